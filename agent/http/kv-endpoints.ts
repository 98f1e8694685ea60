// KV endpoints in Consul's shapes (`/v1/kv/*key`):
//   GET    ?raw returns the value bytes; otherwise [{Key, Value (base64), Flags, CreateIndex, ModifyIndex, LockIndex, Session}]
//          ?recurse lists the prefix; ?keys (with ?separator) lists key names; 404 when nothing matches
//   PUT    body = value; ?flags, ?cas (0 = create only); answers true or false
//   DELETE ?recurse deletes the prefix; ?cas deletes only at that index; answers true or false
// Consistency: ?stale, ?consistent or the default, through StateApi.readBarrier.

import type { StateApi } from './state-api.ts';
import { parseConsistencyMode } from './blocking.ts';
import { HttpError, jsonReply } from './router.ts';
import type { ApiRequest, Router } from './router.ts';
import { KV_VALUE_MAX_BYTES } from './server.ts';
import type { KvEntry } from '../state/kv-store.ts';

function keyOf(request: ApiRequest, allowEmpty: boolean): string {
  const key = request.params.key ?? '';
  if (key.startsWith('/')) throw new HttpError(400, `Invalid key ${JSON.stringify(key.slice(0, 64))}: keys must not start with '/'`);
  if (!allowEmpty && key === '') throw new HttpError(400, 'Missing key name');
  return key;
}

function unsignedParameter(request: ApiRequest, name: string): number | undefined {
  const text = request.query.get(name);
  if (text === null) return undefined;
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) throw new HttpError(400, `Invalid ?${name}: ${JSON.stringify(text.slice(0, 32))} is not an unsigned integer`);
  return Number(text);
}

export function consulKvEntry(entry: KvEntry): Record<string, unknown> {
  return {
    LockIndex: entry.lockIndex,
    Key: entry.key,
    Flags: entry.flags,
    Value: entry.value.length > 0 ? Buffer.from(entry.value).toString('base64') : null,
    Session: entry.session || undefined,
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
}

export function registerKvEndpoints(router: Router, api: StateApi): void {
  router.get('/v1/kv/*key', async (request) => {
    const key = keyOf(request, true);
    const meta = await api.readBarrier(parseConsistencyMode(request.query));
    if (request.query.has('keys')) {
      const { keys, index } = api.state.kvKeys(key, request.query.get('separator') ?? '');
      if (keys.length === 0) return { status: 404, meta: { ...meta, index: Math.max(index, 1) } };
      return jsonReply(keys, { ...meta, index });
    }
    if (request.query.has('recurse')) {
      const { entries, index } = api.state.kvList(key);
      if (entries.length === 0) return { status: 404, meta: { ...meta, index: Math.max(index, 1) } };
      return jsonReply(entries.map(consulKvEntry), { ...meta, index });
    }
    const { entry, index } = api.state.kvGet(key);
    if (!entry) return { status: 404, meta: { ...meta, index: Math.max(index, 1) } };
    if (request.query.has('raw')) return { raw: { body: Buffer.from(entry.value), contentType: 'application/octet-stream' }, meta: { ...meta, index } };
    return jsonReply([consulKvEntry(entry)], { ...meta, index });
  });

  router.put('/v1/kv/*key', async (request) => {
    const key = keyOf(request, false);
    if (request.body.length > KV_VALUE_MAX_BYTES) {
      throw new HttpError(413, `Value for key ${JSON.stringify(key.slice(0, 64))} is ${request.body.length} bytes; the limit is ${KV_VALUE_MAX_BYTES}`);
    }
    const flags = unsignedParameter(request, 'flags') ?? 0;
    const cas = unsignedParameter(request, 'cas');
    const value = new Uint8Array(request.body);
    const nowMs = Date.now();
    const result = cas === undefined
      ? await api.apply({ type: 'kvSet', nowMs, key, value, flags })
      : await api.apply({ type: 'kvCas', nowMs, key, value, flags, casIndex: cas });
    return jsonReply(result === true);
  }, { maxBodyBytes: KV_VALUE_MAX_BYTES + 1 });

  router.delete('/v1/kv/*key', async (request) => {
    const key = keyOf(request, true);
    const nowMs = Date.now();
    const cas = unsignedParameter(request, 'cas');
    let result: unknown;
    if (request.query.has('recurse')) result = await api.apply({ type: 'kvDeleteTree', nowMs, prefix: key });
    else if (key === '') throw new HttpError(400, 'Missing key name (use ?recurse to delete everything)');
    else if (cas !== undefined) result = await api.apply({ type: 'kvDeleteCas', nowMs, key, casIndex: cas });
    else result = await api.apply({ type: 'kvDelete', nowMs, key });
    return jsonReply(result === true);
  });
}
