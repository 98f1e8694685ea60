// Join addresses as operators type them, turned into multiaddrs.
//
//   host                        127.0.0.12          -> /ip4/127.0.0.12/tcp/8301
//   host:port                   127.0.0.12:9000     -> /ip4/127.0.0.12/tcp/9000
//   [ipv6]:port, bare ipv6      [::1]:9000, ::1     -> /ip6/::1/tcp/9000, /ip6/::1/tcp/8301
//   hostname[:port]             node-b.lan:9000     -> /dns4/node-b.lan/tcp/9000
//   multiaddr                   /ip4/…/tcp/…[/p2p/…] as given
//
// The peer id is optional: libp2p dials the address and learns the id from the Noise handshake.

import { isIP } from 'node:net';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import { MeshAddressError } from './errors.ts';

/** The mesh's port when none is given, Consul's serf LAN port. */
export const DEFAULT_MESH_PORT = 8301;

const HOSTNAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Parses a join address (see the table above); throws MeshAddressError with the reason. */
export function parseDialAddress(text: string, defaultPort: number = DEFAULT_MESH_PORT): Multiaddr {
  const input = text.trim();
  if (input.startsWith('/')) return parseMultiaddr(input);
  const { protocol, host, port } = parseHostPort(input, text, false);
  return multiaddr(`/${protocol}/${host}/tcp/${port ?? defaultPort}`);
}

/** An `-advertise` address: where peers should dial us, when it is not the bind address. */
export interface AdvertiseAddress {
  /** `/ip4/HOST`, `/ip6/HOST` or `/dns4/HOST`. */
  hostPart: string;
  /** The port to announce; undefined means the port the mesh actually listens on. */
  port: number | undefined;
}

/** Parses `host`, `host:port` (port 0 = the listening port) or a TCP multiaddr without /p2p/. */
export function parseAdvertiseAddress(text: string): AdvertiseAddress {
  const input = text.trim();
  if (input.startsWith('/')) {
    const address = parseMultiaddr(input);
    if (address.getPeerId() !== null) throw new MeshAddressError('an advertise address must not carry a /p2p/ peer id');
    const [hostComponent, portComponent] = address.getComponents();
    const port = Number(portComponent!.value);
    return { hostPart: `/${hostComponent!.name}/${hostComponent!.value}`, port: port === 0 ? undefined : port };
  }
  const { protocol, host, port } = parseHostPort(input, text, true);
  return { hostPart: `/${protocol}/${host}`, port: port === 0 ? undefined : port };
}

/** The multiaddr to announce for an advertise address, given the port the mesh listens on. */
export function advertisedMultiaddr(advertise: AdvertiseAddress, listeningPort: number): string {
  return `${advertise.hostPart}/tcp/${advertise.port ?? listeningPort}`;
}

/** The multiaddr a mesh listens on for a bind IP and port. */
export function listenMultiaddr(bindIp: string, port: number): string {
  const family = isIP(bindIp);
  if (family === 0) throw new MeshAddressError(`bind address ${JSON.stringify(bindIp)} is not an IP address`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new MeshAddressError(`port ${port} is out of range`);
  return `/ip${family}/${bindIp}/tcp/${port}`;
}

/** True for 0.0.0.0 and ::, which mean "every interface" and so name no source address. */
export function isUnspecifiedAddress(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::' || ip === '0:0:0:0:0:0:0:0';
}

function parseMultiaddr(text: string): Multiaddr {
  let address: Multiaddr;
  try {
    address = multiaddr(text);
  } catch (err) {
    throw new MeshAddressError(`invalid multiaddr ${JSON.stringify(text)}: ${(err as Error).message}`, { cause: err });
  }
  const names = address.getComponents().map((component) => component.name);
  if (!['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(names[0] ?? '') || names[1] !== 'tcp') {
    throw new MeshAddressError(`multiaddr ${text} is not a TCP address (/ip4|ip6|dns4|dns6/…/tcp/PORT[/p2p/ID])`);
  }
  return address;
}

function parseHostPort(input: string, original: string, allowZeroPort: boolean): { protocol: 'ip4' | 'ip6' | 'dns4'; host: string; port: number | undefined } {
  if (input.length === 0) throw new MeshAddressError('empty address');
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(input);
  if (bracketed !== null) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (isIP(host) !== 6) throw new MeshAddressError(`address ${JSON.stringify(original)}: ${host} is not an IPv6 address`);
  } else if (isIP(input) === 6) {
    host = input; // a bare IPv6 literal: its colons are not a port separator
  } else {
    const colon = input.lastIndexOf(':');
    host = colon === -1 ? input : input.slice(0, colon);
    portText = colon === -1 ? undefined : input.slice(colon + 1);
  }
  const port = portText === undefined ? undefined : parsePort(portText, original, allowZeroPort ? 0 : 1);
  return { protocol: hostProtocol(host, original), host, port };
}

function parsePort(portText: string, original: string, lowest: number): number {
  if (!/^\d{1,5}$/.test(portText)) throw new MeshAddressError(`address ${JSON.stringify(original)}: port ${JSON.stringify(portText)} is not a number`);
  const port = Number(portText);
  if (port < lowest || port > 65535) throw new MeshAddressError(`address ${JSON.stringify(original)}: port ${port} is out of range ${lowest}-65535`);
  return port;
}

function hostProtocol(host: string, original: string): 'ip4' | 'ip6' | 'dns4' {
  const family = isIP(host);
  if (family === 4) return 'ip4';
  if (family === 6) return 'ip6';
  if (HOSTNAME_PATTERN.test(host) && !/^[\d.]+$/.test(host)) return 'dns4';
  throw new MeshAddressError(`address ${JSON.stringify(original)}: ${JSON.stringify(host)} is neither an IP address nor a host name`);
}
