#!/usr/bin/env node
import './sourcemap-register.cjs';import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 349:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  ak: () => (/* binding */ runCli)
});

// UNUSED EXPORTS: USAGE, UsageError, parseCliArgs

;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
var external_node_fs_default = /*#__PURE__*/__nccwpck_require__.n(external_node_fs_namespaceObject);
;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
var external_node_path_default = /*#__PURE__*/__nccwpck_require__.n(external_node_path_namespaceObject);
;// CONCATENATED MODULE: external "node:util"
const external_node_util_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");
;// CONCATENATED MODULE: external "node:crypto"
const external_node_crypto_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");
var external_node_crypto_default = /*#__PURE__*/__nccwpck_require__.n(external_node_crypto_namespaceObject);
;// CONCATENATED MODULE: external "node:perf_hooks"
const external_node_perf_hooks_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:perf_hooks");
;// CONCATENATED MODULE: external "node:stream/promises"
const promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream/promises");
;// CONCATENATED MODULE: external "node:timers/promises"
const external_node_timers_promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:timers/promises");
;// CONCATENATED MODULE: external "node:os"
const external_node_os_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");
;// CONCATENATED MODULE: external "node:worker_threads"
const external_node_worker_threads_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:worker_threads");
;// CONCATENATED MODULE: ./src/hash-pool.ts






/**
 * `hashFiles(paths, control, digests, sizes, buffer, pause, fs, crypto)`: the hashing loop, shared
 * by this thread and the workers. Every thread claims the next file from `control[0]`, an atomic
 * counter in shared memory, so the load balances itself with no message per file or batch; the
 * digest (40 hex characters) and the size go straight into shared arrays, and `control[1]` counts
 * the files done. Returns null once no file is left, 'paused' when `pause()` says so (checked
 * between files, so this thread can let its event loop turn), or the failure, after setting the
 * counter past the end so the other threads stop.
 *
 * Files are read with sync calls into one reused 1 MiB buffer: on a thread of its own that is the
 * cheapest way through many small files, and memory stays flat however large a file is. A file
 * that fits the buffer is hashed with the one-shot `crypto.hash` to hex, which skips the Hash
 * object and the digest Buffer (~1.5 µs a file). It reads until a read returns 0, as sha1sum does,
 * so the size is always that of the bytes hashed.
 *
 * It is source text rather than a function so the workers can run it from inline source (the ncc
 * bundle then needs no second file) and the exact same loop runs on this thread.
 */
const HASH_FILES_SOURCE = `
const oneShot = crypto.hash
  ? (data) => crypto.hash('sha1', data, 'hex')
  : (data) => crypto.createHash('sha1').update(data).digest('hex')
const n = paths.length
for (;;) {
  if (pause !== undefined && pause()) return 'paused'
  const i = Atomics.add(control, 0, 1)
  if (i >= n) return null
  let fd
  try {
    fd = fs.openSync(paths[i], 'r')
    let size = 0
    let read
    do {
      read = fs.readSync(fd, buffer, size, buffer.length - size, null)
      size += read
    } while (read > 0 && size < buffer.length)
    let digest
    if (read === 0) {
      digest = oneShot(buffer.subarray(0, size))
    } else {
      const hash = crypto.createHash('sha1').update(buffer)
      while ((read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) {
        hash.update(buffer.subarray(0, read))
        size += read
      }
      digest = hash.digest('hex')
    }
    digests.write(digest, i * 40, 'latin1')
    sizes[i] = size
    Atomics.add(control, 1, 1)
  } catch (error) {
    Atomics.store(control, 0, n)
    return { index: i, message: String(error && error.message), code: error && error.code }
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
`;
const HASH_FILES_PARAMS = [
    'paths',
    'control',
    'digests',
    'sizes',
    'buffer',
    'pause',
    'fs',
    'crypto',
];
// A job names its paths as one '\0'-joined string (a name cannot hold '\0'): one copy to clone
// instead of one per path. A worker answers once it finds no file left, or on a failure.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const crypto = require('node:crypto')
const hashFiles = (${HASH_FILES_PARAMS.join(', ')}) => {${HASH_FILES_SOURCE}}
const buffer = Buffer.allocUnsafe(1 << 20)
parentPort.on('message', ({ job, paths, control, digests, sizes }) => {
  const failure = hashFiles(paths.split('\\0'), new Int32Array(control), Buffer.from(digests),
    new Float64Array(sizes), buffer, undefined, fs, crypto)
  parentPort.postMessage({ job, failure })
})
`;
// Between files, this thread turns its event loop at least this often while it hashes.
const SLICE_MS = 10;
/**
 * Hashes files on this thread and `threads - 1` worker threads, one thread per core by default:
 * SHA-1 runs on the thread that calls `update`, so one thread caps the digest at one core however
 * many reads are in flight. Workers start when the pool is made (one takes ~40 ms of CPU to boot,
 * more on a loaded machine), so a caller can walk the folder meanwhile; this thread hashes from
 * the first moment instead of waiting for them, which on thousands of small files is a large part
 * of the whole. (A worker per core *plus* this thread was measured slower: three busy threads and
 * one more boot on two cores.) `close()` must be called once done.
 */
class HashPool {
    #workers;
    #buffer;
    #jobs = 0;
    #crashed;
    #crashListeners = new Set();
    constructor(threads = (0,external_node_os_namespaceObject.availableParallelism)()) {
        this.#workers = Array.from({ length: Math.max(1, threads) - 1 }, () => {
            const worker = new external_node_worker_threads_namespaceObject.Worker(WORKER_SOURCE, { eval: true });
            // Kept for the pool's life: a crash between jobs fails the next one instead of the process,
            // and a thread that stops (crash or `close()`) fails the job it was part of, not hang it.
            const stopped = (error) => {
                this.#crashed ??= error;
                for (const listener of this.#crashListeners)
                    listener(error);
            };
            worker.on('error', stopped);
            worker.on('exit', () => stopped(new Error('A hashing thread has stopped')));
            return worker;
        });
    }
    /**
     * SHA-1 and size of each file, in the order of `paths`; a file that cannot be read rejects,
     * naming it. This thread takes its share in slices of ~10 ms (or one large file), so its event
     * loop still turns while it hashes.
     */
    async hash(paths) {
        const n = paths.length;
        if (n === 0)
            return [];
        if (this.#crashed)
            throw this.#crashed;
        // The workers get the paths '\0'-joined, so one holding '\0' would shift every index after it.
        const nul = paths.find((path) => path.includes('\0'));
        if (nul !== undefined)
            throw new Error(`Cannot read '${nul}': a path cannot hold '\\0'`);
        const job = ++this.#jobs;
        const shared = {
            control: new SharedArrayBuffer(8),
            digests: new SharedArrayBuffer(40 * n),
            sizes: new SharedArrayBuffer(8 * n),
        };
        const control = new Int32Array(shared.control);
        const digests = Buffer.from(shared.digests);
        const sizes = new Float64Array(shared.sizes);
        const fail = (failure) => Object.assign(new Error(`Cannot read '${paths[failure.index]}': ${failure.message}`), {
            code: failure.code,
        });
        // Listen before posting: a worker already up can answer before this thread's first slice ends.
        let settle;
        const workersDone = new Promise((resolve, reject) => {
            settle = (error) => (error ? reject(error) : resolve());
        });
        // Awaited only if this thread finishes its share cleanly; a failure of its own wins.
        workersDone.catch(() => { });
        const onMessage = (message) => {
            if (message.job !== job)
                return; // a late answer to an earlier job that failed
            if (message.failure)
                settle(fail(message.failure));
            else if (Atomics.load(control, 1) === n)
                settle();
        };
        const onCrash = (error) => settle(error);
        this.#crashListeners.add(onCrash);
        const joined = this.#workers.length > 0 ? paths.join('\0') : '';
        for (const worker of this.#workers) {
            worker.on('message', onMessage);
            worker.postMessage({ job, paths: joined, ...shared });
        }
        try {
            this.#buffer ??= Buffer.allocUnsafe(1 << 20);
            const hashFiles = compileHashFiles();
            for (;;) {
                const until = external_node_perf_hooks_namespaceObject.performance.now() + SLICE_MS;
                const result = hashFiles(paths, control, digests, sizes, this.#buffer, () => external_node_perf_hooks_namespaceObject.performance.now() > until, (external_node_fs_default()), (external_node_crypto_default()));
                if (result === 'paused')
                    await (0,external_node_timers_promises_namespaceObject.setImmediate)();
                else if (result)
                    throw fail(result);
                else
                    break;
            }
            // The files still out are with workers; the one that finishes the last of them says so.
            if (Atomics.load(control, 1) !== n)
                await workersDone;
        }
        finally {
            this.#crashListeners.delete(onCrash);
            for (const worker of this.#workers)
                worker.off('message', onMessage);
        }
        const hex = digests.toString('latin1');
        const out = new Array(n);
        for (let i = 0; i < n; i++)
            out[i] = { sha1: hex.slice(i * 40, i * 40 + 40), size: sizes[i] };
        return out;
    }
    /** Stops the threads. */
    async close() {
        await Promise.all(this.#workers.map((worker) => worker.terminate()));
    }
}
let compiled;
function compileHashFiles() {
    compiled ??= new Function(...HASH_FILES_PARAMS, HASH_FILES_SOURCE);
    return compiled;
}

;// CONCATENATED MODULE: ./src/files.ts







/**
 * Walks `dir` with Netlify's file rules and SHA-1s every file on every core. Throws, naming the
 * file, on `#`/`?` in a name, a symlink that leaves `dir`, a broken symlink or a symlink loop.
 */
async function digestDir(dir, options = {}) {
    // Hashing threads boot first, so they are ready, or nearly, once the walk is over.
    const pool = new HashPool(options.concurrency);
    const found = { paths: [], absPaths: [], turnAt: external_node_perf_hooks_namespaceObject.performance.now() + files_SLICE_MS };
    let hashes;
    const files = {};
    const sizes = {};
    const byPath = new Map();
    try {
        const root = await external_node_fs_default().promises.realpath(dir);
        await walk(root, root, '', [root], found, options);
        // The indexes are laid out while the threads boot, the hashes filled in once known: of the
        // digest's work, only what follows the hashing has no other thread to share the time with.
        // The walk listed the paths in code-unit order: stable across platforms and locales, so the
        // manifest is reproducible.
        for (let i = 0; i < found.paths.length; i++) {
            const relPath = found.paths[i];
            files[relPath] = '';
            sizes[relPath] = 0;
            byPath.set(relPath, { path: relPath, absPath: found.absPaths[i], sha1: '', size: 0 });
        }
        hashes = await pool.hash(found.absPaths);
    }
    catch (error) {
        await pool.close();
        throw error;
    }
    // The threads wind down while this one fills in the hashes.
    const closed = pool.close();
    const bySha = new Map();
    let totalBytes = 0;
    let i = 0;
    for (const entry of byPath.values()) {
        const { sha1, size } = hashes[i++];
        entry.sha1 = sha1;
        entry.size = size;
        files[entry.path] = sha1;
        sizes[entry.path] = size;
        const same = bySha.get(sha1);
        if (same)
            same.push(entry);
        else
            bySha.set(sha1, [entry]);
        totalBytes += size;
    }
    await closed;
    return { files, sizes, byPath, bySha, count: hashes.length, totalBytes };
}
/**
 * SHA-1 and byte count of a file, streamed so memory stays flat with file size. The size comes
 * from the bytes hashed, so it always matches the hash even if the file changed since `stat`.
 */
async function hashFile(absPath) {
    const hash = createHash('sha1');
    let size = 0;
    await pipeline(fs.createReadStream(absPath), async (source) => {
        for await (const chunk of source) {
            size += chunk.length;
            hash.update(chunk);
        }
    });
    return { sha1: hash.digest('hex'), size };
}
/** Netlify's publish rules: no dotfiles or dot-folders except `.well-known`, no `__MACOSX`. */
function isSkipped(name) {
    if (name.startsWith('.'))
        return name !== '.well-known';
    return name.startsWith('__MACOSX');
}
// The walk runs on this thread for at most this long between turns of its event loop.
const files_SLICE_MS = 10;
// Sync calls: on a warm tree a folder's listing is microseconds, and the async calls' overhead
// cost ~2.5× the time of the whole walk. It yields every `SLICE_MS` so the event loop still turns.
// `ancestors` holds the real paths of the folders on the way down, to stop symlink loops.
async function walk(root, realDir, relDir, ancestors, found, options) {
    if (external_node_perf_hooks_namespaceObject.performance.now() > found.turnAt) {
        await (0,external_node_timers_promises_namespaceObject.setImmediate)();
        found.turnAt = external_node_perf_hooks_namespaceObject.performance.now() + files_SLICE_MS;
    }
    // Files go in as their name, folders as their name and '/': sorting these keys and walking in
    // their order lists the deploy paths in code-unit order, since '/' is what ends a folder's part
    // of a path (so `a-b` < `a/x`, `a` < `a/x`). Then the digest needs no global sort.
    const keys = [];
    // Where a key's bytes are, when a symlink makes that other than `realDir`/name.
    let links;
    for (const entry of external_node_fs_default().readdirSync(realDir, { withFileTypes: true })) {
        const name = entry.name;
        if (isSkipped(name))
            continue;
        if (relDir === '' && options.skipNodeModules && name === 'node_modules')
            continue;
        const relPath = relDir === '' ? name : `${relDir}/${name}`;
        // The entry's type comes with readdir on most file systems: stat only links and unknowns.
        let realPath;
        let stat = entry;
        if (entry.isSymbolicLink()) {
            realPath = resolveLink(root, join(realDir, name), relPath);
            stat = external_node_fs_default().statSync(realPath);
        }
        else if (!entry.isFile() && !entry.isDirectory()) {
            const lstat = external_node_fs_default().lstatSync(join(realDir, name));
            stat = lstat;
            if (lstat.isSymbolicLink()) {
                realPath = resolveLink(root, join(realDir, name), relPath);
                stat = external_node_fs_default().statSync(realPath);
            }
        }
        let key;
        if (stat.isDirectory()) {
            if (realPath !== undefined && ancestors.includes(realPath)) {
                throw new Error(`'${relPath}' is a symlink to one of its own parent folders (a loop)`);
            }
            key = `${name}/`;
        }
        else if (stat.isFile()) {
            // Netlify refuses these names: they would be read as a URL fragment or query.
            if (relPath.includes('#') || relPath.includes('?')) {
                throw new Error(`'${relPath}': deployed file names cannot contain # or ? characters`);
            }
            key = name;
        }
        else {
            options.warn?.(`Skipping '${relPath}': not a regular file, folder or symlink`);
            continue;
        }
        keys.push(key);
        if (realPath !== undefined)
            (links ??= new Map()).set(key, realPath);
    }
    for (const key of keys.sort()) {
        if (key.endsWith('/')) {
            const name = key.slice(0, -1);
            const realPath = links?.get(key) ?? join(realDir, name);
            const relPath = relDir === '' ? name : `${relDir}/${name}`;
            await walk(root, realPath, relPath, [...ancestors, realPath], found, options);
        }
        else {
            found.paths.push(relDir === '' ? key : `${relDir}/${key}`);
            found.absPaths.push(links?.get(key) ?? join(realDir, key));
        }
    }
}
// `dir` is a real path, so a plain join is already normal (path.join would normalize it again).
function join(dir, name) {
    return dir.endsWith((external_node_path_default()).sep) ? dir + name : `${dir}${(external_node_path_default()).sep}${name}`;
}
function resolveLink(root, absPath, relPath) {
    let target;
    try {
        target = external_node_fs_default().realpathSync.native(absPath);
    }
    catch (error) {
        const code = error.code;
        if (code === 'ELOOP')
            throw new Error(`'${relPath}' is a symlink loop`, { cause: error });
        throw new Error(`'${relPath}' is a broken symlink`, { cause: error });
    }
    // Following a link out of the folder could publish anything the runner can read (~/.ssh …).
    if (target !== root && !target.startsWith(root + (external_node_path_default()).sep)) {
        throw new Error(`'${relPath}' is a symlink to '${target}', outside the folder to deploy; ` +
            'copy the file in instead');
    }
    return target;
}

;// CONCATENATED MODULE: ./src/format.ts
/** Scales bytes to the largest decimal unit under 1000: `[1.234, 'MB']`. */
function scaleBytes(bytes) {
    const units = ['kB', 'MB', 'GB', 'TB'];
    let value = bytes;
    let unit = -1;
    do {
        value /= 1000;
        unit++;
    } while (value >= 1000 && unit < units.length - 1);
    return [value, units[unit]];
}
/** Bytes for humans, in decimal units as GitHub and Netlify show them: `1.2 MB`. */
function formatBytes(bytes) {
    if (bytes < 1000)
        return `${bytes} B`;
    const [value, unit] = scaleBytes(bytes);
    return `${value.toFixed(1)} ${unit}`;
}
/** A duration for humans: `850 ms`, `12.3 s`, `2 min 5 s`. */
function formatDuration(ms) {
    if (ms < 1000)
        return `${Math.round(ms)} ms`;
    if (ms < 60_000)
        return `${(ms / 1000).toFixed(1)} s`;
    const seconds = Math.round(ms / 1000);
    return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}
/**
 * Bytes of a budget: like `formatBytes`, but rounded down and without a trailing `.0`
 * (`49.9 GB of 50 GB`), so a remainder is never shown bigger than it is.
 */
function formatBudgetBytes(bytes) {
    if (bytes < 1000)
        return `${bytes} B`;
    const [value, unit] = scaleBytes(bytes);
    // The epsilon keeps float noise (4.9999999…) from costing a tenth.
    const tenths = Math.floor(value * 10 + 1e-9) / 10;
    return `${Number.isInteger(tenths) ? tenths : tenths.toFixed(1)} ${unit}`;
}
/** A wait in whole seconds for humans, rounded up past a minute: `42 s`, `2 min 5 s`, `5 h 3 min`. */
function formatWait(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    if (s < 60)
        return `${s} s`;
    if (s < 3600)
        return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
    // Rounded up to the minute: telling people to retry a little early would fail again.
    const minutes = Math.ceil(s / 60);
    const hours = Math.floor(minutes / 60);
    return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
}
/** An ISO instant as `2026-12-01 00:00 UTC`; anything unparsable is shown as given. */
function formatUtc(iso) {
    const time = Date.parse(iso);
    if (Number.isNaN(time))
        return iso;
    return `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
/** Cents for humans: `12 ¢` below a dollar, `$1.23` from there on. */
function formatCents(cents) {
    return cents < 100 ? `${cents} ¢` : `$${(cents / 100).toFixed(2)}`;
}

;// CONCATENATED MODULE: ./src/metering.ts
// The gateway meters deploys: a monthly budget (deploys and bytes, `402 cap_exceeded` once used
// up) and pacing (deploys per minute and per day, `429 rate_limited`). These turn its answers into
// lines a workflow author can act on.

/**
 * What is left of the month's budget (`limits.month`):
 * `997 of 1000 deploys and 49.9 GB of 50 GB left (resets 2026-12-01 00:00 UTC)`.
 */
function formatBudget(limits) {
    const { deploys, bytes } = limits;
    return (`${deploys.remaining} of ${deploys.limit} deploys and ` +
        `${formatBudgetBytes(bytes.remaining)} of ${formatBudgetBytes(bytes.limit)} left ` +
        `(resets ${formatUtc(limits.resetAt)})`);
}
/**
 * The reason of a `402 cap_exceeded`, built from its `details`:
 * `Monthly deploy cap reached: 0 of 10 deploys left this month; resets 2026-12-01 00:00 UTC.`
 * Undefined when the details do not say which cap and what remains (the caller then shows the
 * gateway's own message).
 */
function describeCapExceeded(details) {
    if (!isRecord(details))
        return undefined;
    const which = details['limit'];
    if (which !== 'deploys' && which !== 'bytes')
        return undefined;
    const remaining = numberAt(details['remaining'], which);
    if (remaining === undefined)
        return undefined;
    const limit = numberAt(details['limits'], which);
    const resetAt = typeof details['resetAt'] === 'string' ? details['resetAt'] : undefined;
    const resets = resetAt ? `; resets ${formatUtc(resetAt)}` : '';
    if (which === 'deploys') {
        const of = limit === undefined ? '' : ` of ${limit}`;
        return `Monthly deploy cap reached: ${remaining}${of} deploys left this month${resets}.`;
    }
    const of = limit === undefined ? '' : ` of ${formatBudgetBytes(limit)}`;
    return `Monthly byte cap reached: ${formatBudgetBytes(remaining)}${of} left this month${resets}.`;
}
/**
 * The reason of a `429 rate_limited`:
 * `Deploy pacing: at most 3 deploys per minute for this customer; retry in 42 s.` Reads the
 * `details` first, then the `RateLimit` headers and `Retry-After`, so a 429 from something in
 * front of the gateway that sends only headers is explained too. Undefined when the window is
 * unknown.
 */
function describeRateLimited(details, headers, retryAfterSeconds) {
    const fields = isRecord(details) ? details : {};
    const named = typeof fields['limit'] === 'string' ? fields['limit'] : undefined;
    const window = named ?? windowName(headers);
    if (!window)
        return undefined;
    const max = numberAt(fields, 'max') ?? headers?.quota;
    const wait = numberAt(fields, 'retryAfterSeconds') ?? retryAfterSeconds ?? headers?.resetSeconds;
    const rule = max === undefined
        ? `too many deploys per ${window} for this customer`
        : `at most ${max} deploys per ${window} for this customer`;
    return `Deploy pacing: ${rule}${wait === undefined ? '' : `; retry in ${formatWait(wait)}`}.`;
}
const WINDOW_NAMES = { 60: 'minute', 3600: 'hour', 86_400: 'day' };
function windowName(headers) {
    if (!headers)
        return undefined;
    if (['minute', 'hour', 'day'].includes(headers.policy))
        return headers.policy;
    if (headers.windowSeconds !== undefined) {
        return WINDOW_NAMES[headers.windowSeconds] ?? formatWait(headers.windowSeconds);
    }
    return headers.policy || undefined;
}
function isRecord(value) {
    return typeof value === 'object' && value !== null;
}
function numberAt(value, key) {
    if (!isRecord(value))
        return undefined;
    const found = value[key];
    return typeof found === 'number' && Number.isFinite(found) ? found : undefined;
}

;// CONCATENATED MODULE: ./src/errors.ts

/**
 * An error answer from the Kaixu gateway: `{"error":{"code","message","details"}}` plus the HTTP
 * status, or a synthetic code (`http_error`) when the body was not the gateway's error JSON (a
 * proxy's HTML page, say).
 */
class GatewayError extends Error {
    /** HTTP status of the answer. */
    status;
    /** Stable error code from the gateway API (`cap_exceeded`, `sha_mismatch`, …). */
    code;
    /** The gateway's `details` object, as sent. */
    details;
    /** Seconds from the `Retry-After` header, when there was one. */
    retryAfterSeconds;
    /** The gateway's `requestId`, quoted in messages so operators can find the request. */
    requestId;
    /** The `RateLimit` headers of a 429, when it had them. */
    rateLimit;
    constructor(status, code, message, details, retryAfterSeconds, requestId, rateLimit) {
        super(message);
        this.name = 'GatewayError';
        this.status = status;
        this.code = code;
        this.details = details;
        this.retryAfterSeconds = retryAfterSeconds;
        this.requestId = requestId;
        this.rateLimit = rateLimit;
    }
}
// Known failures say which input or setting to change (house rule 5).
const HINTS = {
    unauthorized: "Check the 'kaixu-key' input: the key is missing, unknown or revoked.",
    customer_suspended: 'Your Kaixu account is suspended; contact the gateway operator.',
    project_not_found: "Check the 'project' input: it names no project of this Kaixu key.",
    netlify_token_missing: 'Register your Netlify token with the gateway (PUT /v1/netlify-token).',
    cap_exceeded: 'Ask the gateway operator to raise it.',
};
/**
 * Turns anything thrown into one readable line: the reason, a hint if known, then the gateway's
 * status, code and request id for whoever has to look it up.
 */
function getErrorMessage(error) {
    if (error instanceof GatewayError) {
        const where = [`HTTP ${error.status}`, error.code];
        if (error.requestId)
            where.push(`request ${error.requestId}`);
        const hint = HINTS[error.code];
        return `${explain(error)}${hint ? ` ${hint}` : ''} (${where.join(', ')})`;
    }
    if (error instanceof Error) {
        // fetch() reports every network failure as "fetch failed"; the cause says what happened.
        const cause = error.cause;
        if (cause instanceof Error && error.message === 'fetch failed') {
            return `${error.message}: ${cause.message}`;
        }
        return error.message;
    }
    return String(error);
}
// Metering answers are rebuilt from their details, so caps and pacing always read the same way
// (units, reset time in UTC) whatever the gateway's own wording; its message is the fallback.
function explain(error) {
    if (error.code === 'cap_exceeded')
        return describeCapExceeded(error.details) ?? error.message;
    if (error.code === 'rate_limited') {
        return (describeRateLimited(error.details, error.rateLimit, error.retryAfterSeconds) ?? error.message);
    }
    return error.message;
}

;// CONCATENATED MODULE: ./src/cancel.ts

/** A cancelling run has seconds, not minutes: a runner kills a post step that takes too long. */
const CANCEL_TIMEOUT_MS = 15_000;
/**
 * Cancels a push its run is abandoning (a cancelled or timed-out job, Ctrl-C), so it holds no
 * deploy or bytes of the month and Netlify publishes nothing half-uploaded. Answers the push's
 * state afterwards (`cancelled`, or what it already was), undefined when the gateway could not
 * be asked. Never throws: an abandoned push also expires at the gateway on its own.
 */
async function cancelPush(client, pushId, reporter) {
    try {
        const record = await client.cancel(pushId, AbortSignal.timeout(CANCEL_TIMEOUT_MS));
        reporter.info(`Push ${pushId} cancelled; its reservation is returned`);
        return record.state;
    }
    catch (error) {
        if (error instanceof GatewayError && error.code === 'invalid_state') {
            const state = error.details?.state;
            reporter.info(`Push ${pushId} is ${state ?? 'past uploading'}; it was not cancelled`);
            return state;
        }
        reporter.warning(`Could not cancel push ${pushId}: ${getErrorMessage(error)}`);
        return undefined;
    }
}

;// CONCATENATED MODULE: external "node:stream"
const external_node_stream_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");
;// CONCATENATED MODULE: ./src/retry.ts

const DEFAULTS = {
    attempts: 6,
    baseDelayMs: 500,
    maxDelayMs: 20_000,
    maxRetryAfterMs: 120_000,
    shouldRetry: isRetryable,
    sleep: sleepUnlessAborted,
    random: Math.random,
};
// Error codes from the socket layer that mean "try again", as undici and node:net report them.
const TRANSIENT_NETWORK_CODES = new Set([
    'ECONNRESET',
    'ECONNREFUSED',
    'ECONNABORTED',
    'ETIMEDOUT',
    'EPIPE',
    'ENOTFOUND',
    'EAI_AGAIN',
    'ENETUNREACH',
    'EHOSTUNREACH',
]);
/**
 * The default retry policy: 429, 502, 503, 504, `409 idempotency_in_flight` and network failures
 * are retried; every other gateway answer (400, 401, 402 `cap_exceeded`, 403, 404, 409, 411, 413,
 * 422 …, 500) is final.
 */
function isRetryable(error) {
    if (error instanceof GatewayError) {
        // An earlier attempt with the same Idempotency-Key is still running (its answer got lost on
        // the way); once it ends, the same request is answered with its stored result.
        if (error.status === 409)
            return error.code === 'idempotency_in_flight';
        // The gateway sends 502 `netlify_error` when Netlify refused for good; a bare 502 comes from a
        // proxy in front of a restarting gateway and is worth another try.
        if (error.status === 502)
            return error.code !== 'netlify_error';
        return error.status === 429 || error.status === 503 || error.status === 504;
    }
    if (!(error instanceof Error))
        return false;
    if (error.name === 'TimeoutError')
        return true;
    // fetch() wraps every network failure in TypeError('fetch failed') with the real one as cause.
    // Only socket-level causes are transient: a bad URL or a vanished file to upload is not.
    if (error instanceof TypeError && error.message === 'fetch failed')
        return isTransient(error.cause);
    return isTransient(error);
}
function isTransient(cause) {
    // Node tries every address of a host and reports all failures at once.
    if (cause instanceof AggregateError && cause.errors.some(isTransient))
        return true;
    const code = cause?.code;
    return (typeof code === 'string' && (TRANSIENT_NETWORK_CODES.has(code) || code.startsWith('UND_ERR_')));
}
/**
 * The wait before retry number `retry` (1-based): "full jitter" exponential backoff, a random
 * delay up to `base · 2^(retry-1)`, capped; at least a server's `Retry-After`.
 */
function retryDelayMs(retry, options, retryAfterSeconds) {
    const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
    // Full jitter spreads the retries of many parallel uploads so they do not return in lockstep.
    const jittered = Math.round(ceiling * options.random());
    const floor = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000;
    return Math.max(jittered, floor);
}
/**
 * Runs `fn` until it succeeds, an error is not retryable, or the attempts run out; then throws the
 * last error. `fn` gets the 1-based attempt number, so callers can rebuild per-attempt state (a
 * fresh file stream for an upload).
 */
async function retry(fn, options = {}) {
    const opts = { ...DEFAULTS, ...options };
    for (let attempt = 1;; attempt++) {
        opts.signal?.throwIfAborted();
        try {
            return await fn(attempt);
        }
        catch (error) {
            // An aborted request is not a failure worth retrying: the caller gave up (its deadline).
            opts.signal?.throwIfAborted();
            if (attempt >= opts.attempts || !opts.shouldRetry(error))
                throw error;
            const retryAfter = error instanceof GatewayError ? error.retryAfterSeconds : undefined;
            if (retryAfter !== undefined && retryAfter * 1000 > opts.maxRetryAfterMs)
                throw error;
            const delay = retryDelayMs(attempt, opts, retryAfter);
            opts.onRetry?.(error, attempt, delay);
            await opts.sleep(delay, opts.signal);
            opts.signal?.throwIfAborted();
        }
    }
}
// Waits `ms`, or less when the signal aborts (then rejects with its reason), leaving no timer
// behind to hold the process open.
function sleepUnlessAborted(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted)
            return reject(signal.reason);
        const onAbort = () => {
            clearTimeout(timer);
            reject(signal.reason);
        };
        const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}

;// CONCATENATED MODULE: ./src/gateway-client.ts





/** The only HTTP caller of the Action: the gateway's `/v1/push-*` routes, with retries. */
class GatewayClient {
    #base;
    #apiKey;
    #userAgent;
    #retry;
    #log;
    constructor(options) {
        // A trailing slash makes `new URL('v1/…', base)` keep a path prefix instead of replacing it.
        this.#base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
        this.#apiKey = options.apiKey;
        this.#userAgent = options.userAgent ?? 'kaixu-push';
        this.#retry = options.retry ?? {};
        this.#log = options.log ?? (() => { });
    }
    /**
     * `POST /v1/push-init`: announces the digest, answers the push id and the SHA-1s to upload.
     * One `Idempotency-Key` covers all retries, so a retry after a lost answer cannot open (and
     * bill) a second push.
     */
    async init(request, idempotencyKey = (0,external_node_crypto_namespaceObject.randomUUID)(), signal) {
        return this.#request({
            method: 'POST',
            route: 'v1/push-init',
            json: request,
            headers: { 'Idempotency-Key': idempotencyKey },
            signal,
        });
    }
    /**
     * `POST /v1/push-plan`: the dry run of `init` with the same body. Answers what would be
     * uploaded and what it would cost; creates no deploy, reservation or charge.
     */
    async plan(request, signal) {
        return this.#request({
            method: 'POST',
            route: 'v1/push-plan',
            json: request,
            signal,
        });
    }
    /** `PUT /v1/push-upload`: streams one file; the stream is re-opened for each attempt. */
    async upload(pushId, sha1, filePath, size, signal) {
        return this.#request({
            method: 'PUT',
            route: 'v1/push-upload',
            query: { pushId },
            body: () => size === 0
                ? new Uint8Array(0)
                : external_node_stream_namespaceObject.Readable.toWeb(external_node_fs_default().createReadStream(filePath)),
            headers: {
                'X-Content-Sha1': sha1,
                'Content-Type': 'application/octet-stream',
                'Content-Length': String(size),
            },
            signal,
        });
    }
    /**
     * `POST /v1/push-upload-batch`: many small files in one request, framed as the gateway reads
     * them (docs/api.md): "KXB1", the count, a table of (SHA-1, size), then the bytes in table
     * order. Each attempt streams the files from disk again, one at a time.
     */
    async uploadBatch(pushId, files, signal) {
        const table = Buffer.alloc(8 + 24 * files.length);
        table.write('KXB1', 0, 'latin1');
        table.writeUInt32BE(files.length, 4);
        let bytes = table.length;
        files.forEach((file, i) => {
            table.write(file.sha1, 8 + 24 * i, 'hex');
            table.writeUInt32BE(file.size, 8 + 24 * i + 20);
            bytes += file.size;
        });
        async function* body() {
            yield table;
            for (const file of files) {
                const content = await external_node_fs_default().promises.readFile(file.absPath);
                // A file rewritten since the digest would shift every frame after it: stop here instead.
                if (content.length !== file.size) {
                    throw new Error(`${file.absPath} changed size during the push (${file.size} → ${content.length} bytes)`);
                }
                yield content;
            }
        }
        return this.#request({
            method: 'POST',
            route: 'v1/push-upload-batch',
            query: { pushId },
            body: () => external_node_stream_namespaceObject.Readable.toWeb(external_node_stream_namespaceObject.Readable.from(body())),
            headers: { 'Content-Type': 'application/vnd.kaixu.batch', 'Content-Length': String(bytes) },
            signal,
        });
    }
    /**
     * `GET /v1/push-upload-chunk`: which chunks of a file the gateway holds (to resume), or
     * undefined when no chunked upload of it exists yet.
     */
    async chunkStatus(pushId, sha1, signal) {
        try {
            return await this.#request({
                method: 'GET',
                route: 'v1/push-upload-chunk',
                query: { pushId, sha1 },
                signal,
            });
        }
        catch (error) {
            if (error instanceof GatewayError && error.status === 404)
                return undefined;
            throw error;
        }
    }
    /** `PUT /v1/push-upload-chunk`: one chunk of a large file (re-sending a stored one is a no-op). */
    async putChunk(pushId, h, body, signal) {
        return this.#request({
            method: 'PUT',
            route: 'v1/push-upload-chunk',
            query: { pushId },
            body: () => body,
            headers: {
                'X-Content-Sha1': h.sha1,
                'X-Chunk-Index': String(h.index),
                'X-Chunk-Count': String(h.count),
                'X-Chunk-Sha1': h.chunkSha1,
                'X-File-Size': String(h.fileSize),
                'Content-Type': 'application/octet-stream',
            },
            signal,
        });
    }
    /**
     * `POST /v1/push-complete`: starts finalization. With `wait` the gateway holds the answer until
     * the deploy is final or its own wait (120 s) runs out; either way the answer is the push record.
     */
    async complete(pushId, wait, signal) {
        return this.#request({
            method: 'POST',
            route: 'v1/push-complete',
            json: { pushId, wait },
            signal,
        });
    }
    /**
     * `POST /v1/push-cancel`: the push is abandoned (job cancelled, Ctrl-C); the gateway cancels
     * its Netlify deploy and returns its reservation. A 409 says it is past uploading.
     */
    async cancel(pushId, signal) {
        return this.#request({
            method: 'POST',
            route: 'v1/push-cancel',
            json: { pushId },
            signal,
        });
    }
    /**
     * `GET /v1/push-status`: the push record, refreshed from Netlify while not final. With
     * `waitSeconds` (at most 60) it long-polls: the gateway answers as soon as the push is `ready`
     * or `error`, or when that many seconds pass.
     */
    async status(pushId, signal, waitSeconds) {
        const wait = waitSeconds === undefined
            ? {}
            : { waitFor: 'ready', timeout: String(Math.max(0, Math.min(60, Math.ceil(waitSeconds)))) };
        return this.#request({
            method: 'GET',
            route: 'v1/push-status',
            query: { pushId, ...wait },
            signal,
        });
    }
    async #request(spec) {
        const url = new URL(spec.route, this.#base);
        for (const [name, value] of Object.entries(spec.query ?? {}))
            url.searchParams.set(name, value);
        const headers = {
            Authorization: `Bearer ${this.#apiKey}`,
            Accept: 'application/json',
            'User-Agent': this.#userAgent,
            ...spec.headers,
        };
        if (spec.json !== undefined)
            headers['Content-Type'] = 'application/json';
        const label = `${spec.method} /${spec.route}`;
        return retry(async () => {
            const body = spec.json !== undefined ? JSON.stringify(spec.json) : spec.body?.();
            const response = await fetch(url, {
                method: spec.method,
                headers,
                body,
                // Node's fetch needs this for a streamed request body.
                duplex: body instanceof ReadableStream ? 'half' : undefined,
                signal: spec.signal,
            });
            if (!response.ok)
                throw await toGatewayError(response);
            return (await readJson(response));
        }, {
            signal: spec.signal,
            onRetry: (error, attempt, delayMs) => this.#log(`${label} failed: ${getErrorMessage(error)}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`),
            ...this.#retry,
        });
    }
}
async function readJson(response) {
    const text = await response.text();
    try {
        return JSON.parse(text);
    }
    catch {
        throw new GatewayError(response.status, 'invalid_response', `The gateway answered ${response.status} with a body that is not JSON: ${excerpt(text)}`, undefined, undefined, response.headers.get('x-request-id') ?? undefined);
    }
}
/** Builds a `GatewayError` from a non-2xx answer, whatever its body looks like. */
async function toGatewayError(response) {
    const text = await response.text().catch(() => '');
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    const rateLimit = response.status === 429
        ? parseRateLimit(response.headers.get('ratelimit-policy'), response.headers.get('ratelimit'))
        : undefined;
    let requestId = response.headers.get('x-request-id') ?? undefined;
    try {
        const parsed = JSON.parse(text);
        if (typeof parsed.requestId === 'string')
            requestId = parsed.requestId;
        const error = parsed.error;
        if (error && typeof error.code === 'string') {
            const message = typeof error.message === 'string' ? error.message : error.code;
            return new GatewayError(response.status, error.code, message, error.details, retryAfter, requestId, rateLimit);
        }
    }
    catch {
        // Not JSON: a proxy's error page, for instance. Fall through to a generic error.
    }
    const reason = response.statusText || 'error';
    const body = text ? `: ${excerpt(text)}` : '';
    return new GatewayError(response.status, 'http_error', `The gateway answered ${response.status} ${reason}${body}`, undefined, retryAfter, requestId, rateLimit);
}
/**
 * The window a 429 names in its `RateLimit` header (`"minute";r=0;t=42`), with its quota and
 * length from `RateLimit-Policy` (`"minute";q=3;w=60, "day";q=100;w=86400`), as the IETF
 * RateLimit header fields draft defines them. Undefined without either header.
 */
function parseRateLimit(policyHeader, limitHeader) {
    const limits = parseItems(limitHeader);
    const policies = parseItems(policyHeader);
    // The exhausted window has no requests left; a lone policy needs no RateLimit to name it.
    const current = limits.find((item) => item.params['r'] === 0) ?? limits[0];
    const policy = current
        ? policies.find((item) => item.name === current.name)
        : policies.length === 1
            ? policies[0]
            : undefined;
    const name = current?.name ?? policy?.name;
    if (name === undefined)
        return undefined;
    return {
        policy: name,
        quota: policy?.params['q'],
        windowSeconds: policy?.params['w'],
        resetSeconds: current?.params['t'],
    };
}
// A structured-field list of `"name";key=number` items; other parameters are ignored.
function parseItems(value) {
    if (!value)
        return [];
    return value
        .split(',')
        .map((item) => {
        const [name = '', ...params] = item.split(';').map((part) => part.trim());
        const numbers = {};
        for (const param of params) {
            const match = /^([a-z][a-z0-9_.*-]*)=(\d+)$/.exec(param);
            if (match)
                numbers[match[1]] = Number(match[2]);
        }
        return { name: name.replace(/^"(.*)"$/, '$1'), params: numbers };
    })
        .filter((item) => item.name !== '');
}
/** `Retry-After` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value, now = Date.now()) {
    if (value === null || value.trim() === '')
        return undefined;
    const trimmed = value.trim();
    if (/^\d+$/.test(trimmed))
        return Number(trimmed);
    const date = Date.parse(trimmed);
    if (Number.isNaN(date))
        return undefined;
    return Math.max(0, Math.ceil((date - now) / 1000));
}
function excerpt(text) {
    const flat = text.replace(/\s+/g, ' ').trim();
    return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

;// CONCATENATED MODULE: ./src/gateway-api.ts
// Request and response shapes of the gateway routes the Action calls, as docs/api.md defines them.
/** Whether a push state is final. */
function isFinalState(state) {
    return state !== 'uploading' && state !== 'finalizing';
}

;// CONCATENATED MODULE: ./node_modules/yocto-queue/index.js
/*
How it works:
`this.#head` is an instance of `Node` which keeps track of its current value and nests another instance of `Node` that keeps the value that comes after it. When a value is provided to `.enqueue()`, the code needs to iterate through `this.#head`, going deeper and deeper to find the last value. However, iterating through every single item is slow. This problem is solved by saving a reference to the last value as `this.#tail` so that it can reference it to add a new value.
*/

class Node {
	value;
	next;

	constructor(value) {
		this.value = value;
	}
}

class Queue {
	#head;
	#tail;
	#size;

	constructor() {
		this.clear();
	}

	enqueue(value) {
		const node = new Node(value);

		if (this.#head) {
			this.#tail.next = node;
			this.#tail = node;
		} else {
			this.#head = node;
			this.#tail = node;
		}

		this.#size++;
	}

	dequeue() {
		const current = this.#head;
		if (!current) {
			return;
		}

		this.#head = this.#head.next;
		this.#size--;

		// Clean up tail reference when queue becomes empty
		if (!this.#head) {
			this.#tail = undefined;
		}

		return current.value;
	}

	peek() {
		if (!this.#head) {
			return;
		}

		return this.#head.value;

		// TODO: Node.js 18.
		// return this.#head?.value;
	}

	clear() {
		this.#head = undefined;
		this.#tail = undefined;
		this.#size = 0;
	}

	get size() {
		return this.#size;
	}

	* [Symbol.iterator]() {
		let current = this.#head;

		while (current) {
			yield current.value;
			current = current.next;
		}
	}

	* drain() {
		while (this.#head) {
			yield this.dequeue();
		}
	}
}

;// CONCATENATED MODULE: ./node_modules/p-limit/index.js


function pLimit(concurrency) {
	let rejectOnClear = false;

	if (typeof concurrency === 'object') {
		({concurrency, rejectOnClear = false} = concurrency);
	}

	validateConcurrency(concurrency);

	if (typeof rejectOnClear !== 'boolean') {
		throw new TypeError('Expected `rejectOnClear` to be a boolean');
	}

	const queue = new Queue();
	let activeCount = 0;

	const resumeNext = () => {
		// Process the next queued function if we're under the concurrency limit
		if (activeCount < concurrency && queue.size > 0) {
			activeCount++;
			queue.dequeue().run();
		}
	};

	const next = () => {
		activeCount--;
		resumeNext();
	};

	const run = async (function_, resolve, arguments_) => {
		// Execute the function and capture the result promise
		const result = (async () => function_(...arguments_))();

		// Resolve immediately with the promise (don't wait for completion)
		resolve(result);

		// Wait for the function to complete (success or failure)
		// We catch errors here to prevent unhandled rejections,
		// but the original promise rejection is preserved for the caller
		try {
			await result;
		} catch {}

		// Decrement active count and process next queued function
		next();
	};

	const enqueue = (function_, resolve, reject, arguments_) => {
		const queueItem = {reject};

		// Queue the internal resolve function instead of the run function
		// to preserve the asynchronous execution context.
		new Promise(internalResolve => { // eslint-disable-line promise/param-names
			queueItem.run = internalResolve;
			queue.enqueue(queueItem);
		}).then(run.bind(undefined, function_, resolve, arguments_)); // eslint-disable-line promise/prefer-await-to-then

		// Start processing immediately if we haven't reached the concurrency limit
		if (activeCount < concurrency) {
			resumeNext();
		}
	};

	const generator = (function_, ...arguments_) => new Promise((resolve, reject) => {
		enqueue(function_, resolve, reject, arguments_);
	});

	Object.defineProperties(generator, {
		activeCount: {
			get: () => activeCount,
		},
		pendingCount: {
			get: () => queue.size,
		},
		clearQueue: {
			value() {
				if (!rejectOnClear) {
					queue.clear();
					return;
				}

				const abortError = AbortSignal.abort().reason;

				while (queue.size > 0) {
					queue.dequeue().reject(abortError);
				}
			},
		},
		concurrency: {
			get: () => concurrency,

			set(newConcurrency) {
				validateConcurrency(newConcurrency);
				concurrency = newConcurrency;

				queueMicrotask(() => {
					// eslint-disable-next-line no-unmodified-loop-condition
					while (activeCount < concurrency && queue.size > 0) {
						resumeNext();
					}
				});
			},
		},
		map: {
			async value(iterable, function_) {
				const promises = [];

				try {
					Array.from(iterable, (value, index) => {
						const promise = generator(function_, value, index);
						promises.push(promise);
						return promise;
					});
				} catch (error) {
					// The iterable threw, so `Promise.all` never observes the already scheduled promises. Observe them here to avoid unhandled rejections.
					for (const promise of promises) {
						promise.catch(() => {}); // eslint-disable-line promise/prefer-await-to-then
					}

					throw error;
				}

				return Promise.all(promises);
			},
		},
	});

	return generator;
}

function limitFunction(function_, options) {
	const limit = pLimit(options);

	const limitedFunction = (...arguments_) => limit(() => function_(...arguments_));
	Object.defineProperty(limitedFunction, 'clearQueue', {
		value: limit.clearQueue,
	});

	return limitedFunction;
}

function validateConcurrency(concurrency) {
	if (!((Number.isInteger(concurrency) || concurrency === Number.POSITIVE_INFINITY) && concurrency > 0)) {
		throw new TypeError('Expected `concurrency` to be a number from 1 and up');
	}
}

;// CONCATENATED MODULE: external "node:fs/promises"
const external_node_fs_promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");
;// CONCATENATED MODULE: ./src/chunked-upload.ts



/**
 * Sends one large file in chunks. It first asks the gateway which chunks it already holds, so a
 * re-run (after a failed chunk, a cancelled job, a crash) sends only the missing ones. Each chunk
 * is read from disk when its turn comes: memory holds at most `concurrency` chunks.
 */
async function uploadInChunks(client, pushId, file, options) {
    const count = Math.max(1, Math.ceil(file.size / options.chunkBytes));
    const status = await client.chunkStatus(pushId, file.sha1, options.signal);
    // A file the gateway already has (or is assembling) needs nothing more.
    if (status && (status.state === 'uploaded' || status.state === 'assembling')) {
        return { bytes: 0, chunks: 0, resumed: count };
    }
    const held = new Set(status?.state === 'receiving' && status.chunkCount === count ? status.received : []);
    const todo = Array.from({ length: count }, (_, i) => i).filter((i) => !held.has(i));
    const handle = await (0,external_node_fs_promises_namespaceObject.open)(file.absPath, 'r');
    try {
        const limit = pLimit(options.concurrency);
        let bytes = 0;
        await Promise.all(todo.map((index) => limit(async () => {
            options.signal?.throwIfAborted();
            const start = index * options.chunkBytes;
            const length = Math.min(options.chunkBytes, file.size - start);
            const body = Buffer.alloc(length);
            const { bytesRead } = await handle.read(body, 0, length, start);
            if (bytesRead !== length)
                throw new Error(`'${file.path}' changed while it was being uploaded`);
            await client.putChunk(pushId, {
                sha1: file.sha1,
                index,
                count,
                chunkSha1: (0,external_node_crypto_namespaceObject.createHash)('sha1').update(body).digest('hex'),
                fileSize: file.size,
            }, body, options.signal);
            bytes += length;
            options.onBytes?.(length);
        })));
        return { bytes, chunks: todo.length, resumed: count - todo.length };
    }
    finally {
        await handle.close();
    }
}

;// CONCATENATED MODULE: ./src/upload.ts



/**
 * Fewest files a batch is cut down to when spreading small files over parallel requests: below
 * this a batch saves too few requests to be worth its own.
 */
const MIN_BATCH_FILES = 50;
/**
 * Groups small files into batches within the gateway's limits: as many as `concurrency` requests
 * can carry at once, but never fewer than 50 files a batch while there are that many.
 */
function planBatches(files, limits, concurrency) {
    const perBatch = Math.min(limits.maxFiles, Math.max(MIN_BATCH_FILES, Math.ceil(files.length / Math.max(1, concurrency))));
    const batches = [];
    let current = [];
    let bytes = 0;
    for (const file of files) {
        if (current.length === perBatch ||
            (current.length > 0 && bytes + file.size > limits.maxBytes)) {
            batches.push(current);
            current = [];
            bytes = 0;
        }
        current.push(file);
        bytes += file.size;
    }
    if (current.length)
        batches.push(current);
    return batches;
}
/**
 * Uploads one file per required SHA-1 (the first path with that content), `concurrency` requests
 * at a time, logging progress: small files in batches when the gateway takes them, others one
 * per request, large ones in chunks. The first failure stops new requests from starting and is
 * thrown once the ones in flight have settled.
 */
async function uploadRequired(client, pushId, required, digest, options) {
    const files = [...new Set(required)].map((sha1) => {
        const entry = digest.bySha.get(sha1)?.[0];
        if (!entry)
            throw new Error(`The gateway asked for content ${sha1}, which no file here has`);
        return entry;
    });
    // The gateway takes bodies up to inlineMaxBytes in one request; bigger files go in chunks.
    const max = options.inlineMaxBytes ?? Number.POSITIVE_INFINITY;
    const chunkBytes = options.chunkBytes ?? 5 * 1024 * 1024;
    const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
    // Never batch what would otherwise go in chunks, whatever an older gateway announces.
    const batchMax = Math.min(options.batch?.fileMaxBytes ?? -1, max);
    const batches = options.batch
        ? planBatches(files.filter((f) => f.size <= batchMax), options.batch, options.concurrency)
        : [];
    // The biggest files start first, so a long one does not begin last and hold up the end.
    const single = files.filter((f) => f.size > batchMax).sort((a, b) => b.size - a.size);
    // About 20 progress lines whatever the count: enough to see movement, few enough to read.
    const every = Math.max(1, Math.ceil(files.length / 20));
    const limit = pLimit(options.concurrency);
    let done = 0;
    let doneBytes = 0;
    let uploaded = 0;
    let uploadedBytes = 0;
    let skipped = 0;
    let failure;
    const progress = (count, bytes) => {
        const before = Math.floor(done / every);
        done += count;
        doneBytes += bytes;
        if (Math.floor(done / every) > before || done === files.length) {
            options.log(`Uploaded ${done}/${files.length} files, ${formatBytes(doneBytes)}/${formatBytes(totalBytes)}`);
        }
    };
    // A large file's chunks share the upload slots; progress counts its bytes as chunks land.
    const sendInChunks = async (file) => {
        const result = await uploadInChunks(client, pushId, file, {
            chunkBytes,
            concurrency: Math.max(1, Math.min(4, options.concurrency)),
            signal: options.signal,
        });
        options.log(`Uploaded ${file.path} in ${result.chunks} chunks` +
            (result.resumed ? ` (${result.resumed} already on the gateway)` : ''));
        return { skipped: result.chunks === 0 && result.resumed > 0 };
    };
    /** Runs one request's worth of work unless an earlier one failed; records its failure. */
    const step = (work) => limit(async () => {
        if (failure)
            return;
        try {
            options.signal?.throwIfAborted();
            await work();
        }
        catch (error) {
            // Settle instead of rejecting, so no upload is still running when the failure surfaces.
            failure ??= { error };
        }
    });
    await Promise.all([
        ...single.map((file) => step(async () => {
            const answer = file.size > max
                ? await sendInChunks(file)
                : await client.upload(pushId, file.sha1, file.absPath, file.size, options.signal);
            if (answer.skipped)
                skipped++;
            else {
                uploaded++;
                uploadedBytes += file.size;
            }
            progress(1, file.size);
        })),
        ...batches.map((batch) => step(async () => {
            const answer = await client.uploadBatch(pushId, batch, options.signal);
            uploaded += answer.uploaded;
            skipped += answer.skipped;
            uploadedBytes += answer.bytes;
            progress(batch.length, batch.reduce((n, f) => n + f.size, 0));
        })),
    ]);
    if (failure)
        throw failure.error;
    return { files: uploaded, bytes: uploadedBytes, skipped };
}

;// CONCATENATED MODULE: ./src/deploy.ts





/** A failed push, with what was known when it failed (for outputs and the summary). */
class PushError extends Error {
    result;
    constructor(cause, result) {
        super(getErrorMessage(cause), { cause });
        this.name = 'PushError';
        this.result = result;
    }
}
/** The deploy did not reach a final state in time. */
class DeployTimeoutError extends Error {
    constructor(message) {
        super(message);
        this.name = 'DeployTimeoutError';
    }
}
/** Longest single `push-status` long-poll the gateway accepts, in seconds. */
const LONG_POLL_MAX_S = 60;
// Pauses between status reads only when a gateway answers early without a final state (an
// older gateway that ignores `waitFor`, or one that is shutting down), so we never spin.
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 2000;
/**
 * The push flow: init with the digest → upload the required files → complete → (with `wait`)
 * poll until `ready` or `error`. Resolves with the result; throws a `PushError` carrying the
 * partial result when anything fails, including a deploy that ends in `error`.
 */
async function push(client, digest, options, reporter) {
    const result = {
        filesTotal: digest.count,
        bytesTotal: digest.totalBytes,
        filesUploaded: 0,
        bytesUploaded: 0,
        timings: {},
    };
    const timeoutText = formatMinutes(options.timeoutMs);
    // One deadline for every request of the push; aborting it ends whichever is in flight.
    const deadline = Date.now() + options.timeoutMs;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DeployTimeoutError(`Timed out after ${timeoutText}`)), options.timeoutMs);
    const interrupt = options.signal;
    if (interrupt?.aborted)
        abort.abort(interrupt.reason);
    else
        interrupt?.addEventListener('abort', () => abort.abort(interrupt.reason), { once: true });
    let phase = 'init';
    try {
        // Step 1: announce the digest; the gateway answers which contents Netlify lacks.
        let started = Date.now();
        const init = await client.init({
            project: options.project,
            files: digest.files,
            sizes: digest.sizes,
            draft: options.draft,
            ...(options.alias ? { alias: options.alias } : {}),
            ...(options.title ? { title: options.title } : {}),
        }, undefined, abort.signal);
        result.pushId = init.pushId;
        options.onInit?.(init.pushId);
        result.deployId = init.deployId;
        result.state = init.state;
        result.filesRequired = init.required.length;
        result.timings.initMs = Date.now() - started;
        const unchanged = digest.count - init.required.length;
        reporter.info(`Push ${init.pushId} (deploy ${init.deployId}): ${init.required.length} files to upload` +
            (unchanged > 0 ? `, ${unchanged} unchanged or duplicates` : ''));
        if (init.limits) {
            result.limits = init.limits;
            reporter.info(`Budget for ${init.limits.month}: ${formatBudget(init.limits)}`);
        }
        // Step 2: upload each missing content once.
        phase = 'upload';
        started = Date.now();
        if (init.required.length > 0) {
            const uploaded = await uploadRequired(client, init.pushId, init.required, digest, {
                concurrency: options.concurrency,
                inlineMaxBytes: init.upload?.inlineMaxBytes,
                chunkBytes: init.upload?.chunkBytes,
                batch: init.upload?.batch,
                log: (line) => reporter.info(line),
                signal: abort.signal,
            });
            result.filesUploaded = uploaded.files;
            result.bytesUploaded = uploaded.bytes;
            if (uploaded.skipped > 0) {
                reporter.info(`${uploaded.skipped} files were already at the gateway and not sent again`);
            }
        }
        result.timings.uploadMs = Date.now() - started;
        // Step 3: finalize, and wait if asked to.
        phase = 'finalize';
        started = Date.now();
        try {
            // Each record seen is applied at once, so a timeout still reports the last known state.
            await finalize(client, init.pushId, { ...options, deadline, signal: abort.signal, timeoutText }, reporter, (record) => applyRecord(result, record));
        }
        finally {
            result.timings.finalizeMs = Date.now() - started;
        }
        if (result.state === 'error') {
            throw new Error(`Netlify could not deploy: ${result.errorMessage ?? 'no reason given'}`);
        }
        if (result.state === 'cancelled' || result.state === 'expired') {
            throw new Error(`The push was ${result.state}: ${result.errorMessage ?? 'no reason given'}`);
        }
        if (result.state === 'ready') {
            reporter.info(`Deploy ready: ${result.deployUrl ?? '(no URL)'}`);
            if (result.costCents !== undefined)
                reporter.info(`Cost: ${formatCents(result.costCents)}`);
        }
        else {
            reporter.info(`Deploy queued (state ${result.state}); not waiting for it`);
        }
        return result;
    }
    catch (error) {
        if (abort.signal.aborted && abort.signal.reason instanceof DeployTimeoutError) {
            const where = phase === 'upload'
                ? `while uploading (${result.filesRequired ?? 0} files to send)`
                : phase === 'finalize'
                    ? `waiting for the deploy (state: ${result.state ?? 'unknown'})`
                    : 'before the gateway answered push-init';
            const pushId = result.pushId ? `; push id ${result.pushId}` : '';
            throw new PushError(new DeployTimeoutError(`The push did not finish within ${timeoutText}, ${where}. It may still finish${pushId}`), result);
        }
        throw new PushError(error, result);
    }
    finally {
        clearTimeout(timer);
    }
}
async function finalize(client, pushId, options, reporter, onRecord) {
    const sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const { deadline, signal, timeoutText } = options;
    let record;
    try {
        // Never held open: the wait below is a long-poll of push-status, which is safe to retry.
        record = await client.complete(pushId, false, signal);
    }
    catch (error) {
        // A retried complete whose first attempt got through finds the push already finalizing.
        if (!(error instanceof GatewayError && error.code === 'invalid_state'))
            throw error;
        reporter.debug(`push-complete answered invalid_state; reading the status instead`);
        record = await client.status(pushId, signal);
    }
    onRecord(record);
    if (!options.wait)
        return;
    let pause = POLL_FIRST_MS;
    let seen = describe(record);
    reporter.info(`Deploy state: ${seen}`);
    while (!isFinalState(record.state)) {
        const left = deadline - Date.now();
        if (left <= 0) {
            throw new DeployTimeoutError(`The push did not finish within ${timeoutText}, waiting for the deploy (state: ${seen}). ` +
                `It may still finish; push id ${pushId}`);
        }
        // The gateway answers the moment the deploy is final, so "ready" is learnt without delay.
        const waitS = Math.max(1, Math.min(LONG_POLL_MAX_S, Math.floor(left / 1000)));
        const asked = Date.now();
        record = await client.status(pushId, signal, waitS);
        onRecord(record);
        const now = describe(record);
        if (now !== seen)
            reporter.info(`Deploy state: ${now}`);
        seen = now;
        if (!isFinalState(record.state) && Date.now() - asked < waitS * 500) {
            await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
            pause = Math.min(POLL_MAX_MS, Math.round(pause * 1.5));
        }
    }
}
function applyRecord(result, record) {
    result.state = record.state;
    result.deployId = record.deployId || result.deployId;
    result.deployUrl = record.deploy_ssl_url ?? undefined;
    result.siteUrl = record.site_url ?? record.ssl_url ?? undefined;
    result.errorMessage = record.error_message ?? undefined;
    result.costCents = record.costCents ?? undefined;
}
function describe(record) {
    return record.netlifyState ? `${record.state} (Netlify: ${record.netlifyState})` : record.state;
}
function formatMinutes(ms) {
    const minutes = ms / 60_000;
    return `${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} min`;
}

;// CONCATENATED MODULE: ./src/plan.ts

/**
 * The dry run: sends the digest to `POST /v1/push-plan`, which answers what a push would upload
 * and cost. Nothing is created at the gateway or at Netlify, and nothing is billed.
 */
async function planPush(client, digest, options, reporter) {
    const started = Date.now();
    const plan = await client.plan({
        project: options.project,
        files: digest.files,
        sizes: digest.sizes,
        draft: options.draft,
        ...(options.alias ? { alias: options.alias } : {}),
    }, AbortSignal.timeout(options.timeoutMs));
    const result = {
        projectId: plan.project.id,
        filesTotal: plan.files.total,
        bytesTotal: digest.totalBytes,
        filesDistinct: plan.files.distinct,
        filesToUpload: plan.wouldUpload.files,
        ...(plan.wouldUpload.bytes === null ? {} : { bytesToUpload: plan.wouldUpload.bytes }),
        ...(plan.estimatedCostCents === null ? {} : { estimatedCostCents: plan.estimatedCostCents }),
        ...(plan.limits ? { limits: plan.limits } : {}),
        planMs: Date.now() - started,
    };
    reporter.info(describePlan(result));
    return result;
}
/** `Dry run: would upload 3 of 50 files (1.2 kB of 80.0 kB), about 11 ¢. Nothing was deployed.` */
function describePlan(plan) {
    const bytes = plan.bytesToUpload === undefined
        ? ''
        : ` (${formatBytes(plan.bytesToUpload)} of ${formatBytes(plan.bytesTotal)})`;
    const cost = plan.estimatedCostCents === undefined ? '' : `, about ${formatCents(plan.estimatedCostCents)}`;
    return (`Dry run: would upload ${plan.filesToUpload} of ${plan.filesTotal} files${bytes}${cost}. ` +
        'Nothing was deployed or billed.');
}

;// CONCATENATED MODULE: ./src/validate.ts
// Value parsers shared by the Action's inputs and the CLI's flags. Each takes the raw text and a
// label naming where it came from (`Input 'alias'`, `--alias`), so one rule gives one message in
// both places.


const ALIAS_MAX = 37;
// Netlify puts the alias in a host name (`<alias>--<site>.netlify.app`): one DNS label.
const ALIAS_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
/**
 * An http(s) base URL, normalised by `URL`. Calls `warn` for plain http to anything but
 * loopback, since the key would travel unencrypted.
 */
function parseGatewayUrl(value, label, warn) {
    let url;
    try {
        url = new URL(value);
    }
    catch {
        throw new Error(`${label} must be an http(s) URL, got '${value}'`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        throw new Error(`${label} must be an http(s) URL, got '${value}'`);
    }
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
        warn(`${label} uses plain http: the Kaixu key travels unencrypted`);
    }
    return url.href;
}
function isLoopback(hostname) {
    return hostname === 'localhost' || hostname === '[::1]' || hostname.startsWith('127.');
}
/** An existing folder, as an absolute path (relative to the working directory). */
function parseDir(value, label) {
    const dir = external_node_path_default().resolve(value);
    let stat;
    try {
        stat = external_node_fs_default().statSync(dir);
    }
    catch {
        throw new Error(`${label}: '${value}' does not exist (resolved to ${dir})`);
    }
    if (!stat.isDirectory())
        throw new Error(`${label}: '${value}' is not a directory`);
    return dir;
}
/** `true`/`false` in the YAML 1.2 core schema spellings (as `core.getBooleanInput` takes them). */
function parseBoolean(value, label) {
    if (['true', 'True', 'TRUE'].includes(value))
        return true;
    if (['false', 'False', 'FALSE'].includes(value))
        return false;
    throw new Error(`${label} must be true or false, got '${value}'`);
}
/** A number within `range`; whole numbers only when `range.integer`. */
function parseNumber(value, label, range) {
    const number = Number(value);
    const kind = range.integer ? 'a whole number' : 'a number';
    const valid = value.trim() !== '' && Number.isFinite(number) && (!range.integer || Number.isInteger(number));
    if (!valid || number < range.min || number > range.max) {
        throw new Error(`${label} must be ${kind} from ${range.min} to ${range.max}, got '${value}'`);
    }
    return number;
}
/** A Netlify alias: one DNS label of at most 37 characters. Suggests a fix when it is not. */
function parseAlias(value, label) {
    if (value.length <= ALIAS_MAX && ALIAS_PATTERN.test(value))
        return value;
    const suggestion = sanitizeAlias(value);
    throw new Error(`${label} must be at most ${ALIAS_MAX} lowercase letters, digits and hyphens, not ` +
        `starting or ending with a hyphen; got '${value}'` +
        (suggestion ? ` (try '${suggestion}')` : ''));
}
/** Netlify's alias sanitising: lowercase, runs of other characters become one hyphen, ≤ 37. */
function sanitizeAlias(value) {
    return value
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .slice(0, ALIAS_MAX)
        .replace(/^-+|-+$/g, '');
}

;// CONCATENATED MODULE: ./src/cli-main.ts
// `kaixu-push`: the same push as the Action, for any CI (GitLab, Jenkins, a laptop). Nothing here
// knows GitHub: no @actions/*, no comments, no deployments; flags in, log on stderr, result on
// stdout.











/** What `kaixu-push --help` prints. */
const USAGE = `Usage: kaixu-push --dir <folder> --project <id or name> --gateway-url <url> [options]

Deploys a folder to Netlify through a Kaixu gateway, uploading only what changed.
The Kaixu API key is read from the KAIXU_KEY environment variable.

Options:
  --dir <folder>          the folder to deploy (required)
  --project <id|name>     the gateway project (required)
  --gateway-url <url>     the gateway's base URL (default: $KAIXU_GATEWAY_URL)
  --draft                 deploy a draft: its own URL, production untouched
  --alias <name>          a draft under a stable alias URL, e.g. pr-12 (implies --draft)
  --title <text>          the deploy title Netlify shows
  --no-wait               end once the deploy is queued, without waiting for it
  --timeout-minutes <n>   deadline of the whole push (default 20)
  --concurrency <n>       uploads in flight, 1 to 32 (default 8)
  --dry-run               say what would be uploaded and what it would cost; deploy nothing
  --json                  print the result as JSON on stdout
  -h, --help              show this help

Exit status: 0 deployed (or planned), 1 failed, 2 bad usage.
`;
/** A usage mistake: exit status 2 and the usage hint. */
class UsageError extends Error {
    constructor(message) {
        super(message);
        this.name = 'UsageError';
    }
}
/**
 * Parses the command line and the environment (`KAIXU_KEY`, `KAIXU_GATEWAY_URL`). Throws a
 * `UsageError` naming the flag at fault. Undefined for `--help`.
 */
function parseCliArgs(argv, env, warn) {
    let values;
    try {
        ;
        ({ values } = (0,external_node_util_namespaceObject.parseArgs)({
            args: argv,
            strict: true,
            allowPositionals: false,
            allowNegative: true,
            options: {
                dir: { type: 'string' },
                project: { type: 'string' },
                'gateway-url': { type: 'string' },
                draft: { type: 'boolean' },
                alias: { type: 'string' },
                title: { type: 'string' },
                wait: { type: 'boolean', default: true },
                'timeout-minutes': { type: 'string' },
                concurrency: { type: 'string' },
                'dry-run': { type: 'boolean' },
                json: { type: 'boolean' },
                help: { type: 'boolean', short: 'h' },
            },
        }));
    }
    catch (error) {
        throw new UsageError(getErrorMessage(error));
    }
    if (values.help)
        return undefined;
    const need = (value, flag) => {
        if (!value)
            throw new UsageError(`${flag} is required`);
        return value;
    };
    const usage = (parse) => {
        try {
            return parse();
        }
        catch (error) {
            throw new UsageError(getErrorMessage(error));
        }
    };
    const gatewayUrl = need(values['gateway-url'] || env['KAIXU_GATEWAY_URL'], '--gateway-url');
    const kaixuKey = env['KAIXU_KEY'];
    if (!kaixuKey)
        throw new UsageError('KAIXU_KEY is not set: put the Kaixu API key in it');
    const alias = values.alias;
    const timeout = values['timeout-minutes'];
    const concurrency = values.concurrency;
    return {
        dir: usage(() => parseDir(need(values.dir, '--dir'), '--dir')),
        project: need(values.project, '--project'),
        gatewayUrl: usage(() => parseGatewayUrl(gatewayUrl, '--gateway-url', warn)),
        kaixuKey,
        draft: values.draft === true || alias !== undefined,
        alias: alias === undefined ? undefined : usage(() => parseAlias(alias, '--alias')),
        title: values.title || undefined,
        wait: values.wait !== false,
        timeoutMinutes: timeout === undefined
            ? 20
            : usage(() => parseNumber(timeout, '--timeout-minutes', { min: 0.1, max: 360 })),
        concurrency: concurrency === undefined
            ? 8
            : usage(() => parseNumber(concurrency, '--concurrency', { min: 1, max: 32, integer: true })),
        dryRun: values['dry-run'] === true,
        json: values.json === true,
    };
}
/**
 * Runs the CLI; resolves with the exit status. `interrupt` aborts with the signal's name
 * (SIGINT, SIGTERM): the push in flight is then cancelled at the gateway, and the status is
 * 130 or 143 as a shell reports a killed command.
 */
async function runCli(argv, env = process.env, io = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
}, interrupt) {
    const reporter = {
        info: (message) => io.err(`${message}\n`),
        warning: (message) => io.err(`warning: ${message}\n`),
        debug: (message) => {
            if (env['KAIXU_DEBUG'])
                io.err(`debug: ${message}\n`);
        },
    };
    let options;
    try {
        options = parseCliArgs(argv, env, reporter.warning);
    }
    catch (error) {
        io.err(`kaixu-push: ${getErrorMessage(error)}\n\n${USAGE}`);
        return 2;
    }
    if (!options) {
        io.out(USAGE);
        return 0;
    }
    let client;
    let pushId;
    try {
        const started = Date.now();
        const digest = await digestDir(options.dir, {
            // Netlify skips node_modules when the publish folder is the base folder (here: cwd).
            skipNodeModules: isSameDir(options.dir, process.cwd()),
            warn: reporter.warning,
        });
        if (digest.count === 0) {
            throw new Error(`--dir: ${options.dir} holds no files to deploy (dotfiles are skipped)`);
        }
        reporter.info(`Digest of ${options.dir}: ${digest.count} files, ${formatBytes(digest.totalBytes)} ` +
            `in ${formatDuration(Date.now() - started)}`);
        client = new GatewayClient({
            baseUrl: options.gatewayUrl,
            apiKey: options.kaixuKey,
            userAgent: 'kaixu-push-cli',
            log: reporter.info,
        });
        const timeoutMs = options.timeoutMinutes * 60_000;
        if (options.dryRun) {
            const plan = await planPush(client, digest, { project: options.project, draft: options.draft, alias: options.alias, timeoutMs }, reporter);
            io.out(options.json ? `${JSON.stringify(planJson(plan))}\n` : '');
            return 0;
        }
        const result = await push(client, digest, {
            project: options.project,
            draft: options.draft,
            wait: options.wait,
            timeoutMs,
            concurrency: options.concurrency,
            ...(options.alias ? { alias: options.alias } : {}),
            ...(options.title ? { title: options.title } : {}),
            onInit: (id) => (pushId = id),
            ...(interrupt ? { signal: interrupt } : {}),
        }, reporter);
        io.out(options.json ? `${JSON.stringify(resultJson(result))}\n` : describeResult(result));
        return 0;
    }
    catch (error) {
        if (interrupt?.aborted) {
            io.err(`kaixu-push: interrupted by ${String(interrupt.reason)}\n`);
            // A push left behind would hold a deploy of the month until the gateway expires it.
            if (client && pushId)
                await cancelPush(client, pushId, reporter);
            return interrupt.reason === 'SIGTERM' ? 143 : 130;
        }
        let message = getErrorMessage(error);
        if (error instanceof Error && error.cause instanceof DeployTimeoutError) {
            message += '. Raise --timeout-minutes to wait longer.';
        }
        io.err(`kaixu-push: ${message}\n`);
        if (options.json && error instanceof PushError) {
            io.out(`${JSON.stringify({ ...resultJson(error.result), error: message })}\n`);
        }
        return 1;
    }
}
function describeResult(result) {
    const lines = [
        `state: ${result.state ?? 'unknown'}`,
        result.deployUrl && `deploy-url: ${result.deployUrl}`,
        result.siteUrl && `site-url: ${result.siteUrl}`,
        `files: ${result.filesTotal} total, ${result.filesUploaded} uploaded (${formatBytes(result.bytesUploaded)})`,
        result.costCents === undefined ? undefined : `cost: ${formatCents(result.costCents)}`,
    ];
    return `${lines.filter(Boolean).join('\n')}\n`;
}
// The same names as the Action's outputs, so scripts can move between the two.
function resultJson(result) {
    return {
        'push-id': result.pushId,
        'deploy-id': result.deployId,
        'deploy-url': result.deployUrl,
        'site-url': result.siteUrl,
        state: result.state,
        'files-total': result.filesTotal,
        'files-changed': result.filesRequired,
        'files-uploaded': result.filesUploaded,
        'bytes-uploaded': result.bytesUploaded,
        'cost-cents': result.costCents,
    };
}
function planJson(plan) {
    return {
        state: 'planned',
        'files-total': plan.filesTotal,
        'files-changed': plan.filesToUpload,
        'bytes-to-upload': plan.bytesToUpload,
        'estimated-cost-cents': plan.estimatedCostCents,
    };
}
function isSameDir(a, b) {
    try {
        return external_node_fs_default().realpathSync(a) === external_node_fs_default().realpathSync(external_node_path_default().resolve(b));
    }
    catch {
        return false;
    }
}


/***/ }),

/***/ 581:
/***/ ((module, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _cli_main_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(349);
// The `kaixu-push` command (bundled to dist/cli/index.js); everything is in cli-main.ts.

// Ctrl-C or a CI runner's SIGTERM: the push in flight is cancelled before the command exits.
// Once only: a second Ctrl-C kills at once, as usual.
const interrupt = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => interrupt.abort(signal));
}
/* istanbul ignore next */
process.exitCode = await (0,_cli_main_js__WEBPACK_IMPORTED_MODULE_0__/* .runCli */ .ak)(process.argv.slice(2), process.env, undefined, interrupt.signal);

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId](module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(581);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 

//# sourceMappingURL=index.js.map