#!/usr/bin/env node
// Replay one editing trace on one JS CRDT engine and print ONE JSON line.
//
//   node run_trace.mjs <automerge|yjs|loro> <trace.json.gz> <one|per-patch|concurrent> [--repeats N] [--profile]
//
// --profile (concurrent mode only) adds "b1_profile_ms": B1 time split into
// fork/adopt/merge/edit/free (the extra clock reads slightly inflate b1_ms).
//
// B1   apply the trace as local edits (concurrent: replay with forks/merges)
// B2   export the history made in B1 as the engine's own changes/updates and
//      apply them to an empty document (timed: the apply + reading the text)
// B3   save bytes (snapshot) and load time (timed: load + reading the text)
// Each repeat builds everything afresh; save_bytes/n_changes come from the last
// repeat. Pass --expose-gc to node to collect garbage between repeats.
// The JSON line is always printed (ok:false + error on failure); the exit code
// is 0, or 2 for a bad command line.

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { format } from "node:util";

// stdout carries the one JSON line only: library chatter goes to stderr.
console.log = console.info = console.debug = (...a) => process.stderr.write(format(...a) + "\n");

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = { automerge: "@automerge/automerge", yjs: "yjs", loro: "loro-crdt" };
const MODES = ["one", "per-patch", "concurrent"];

function pkgVersion(name) {
  try {
    const p = path.join(HERE, "node_modules", name, "package.json");
    return JSON.parse(fs.readFileSync(p, "utf8")).version;
  } catch {
    return null;
  }
}

function traceName(file) {
  const base = path.basename(file).replace(/\.json(\.gz)?$/, "");
  const parent = path.basename(path.dirname(file));
  return parent === "ascii_only" ? `ascii_only/${base}` : base;
}

class UsageError extends Error {
  constructor(message) { super(message); this.name = "UsageError"; }
}

function parseArgs(argv) {
  const pos = [];
  let repeats = 1;
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--profile") {
      profile = true;
    } else if (argv[i] === "--repeats") {
      repeats = Number(argv[++i]);
      if (!Number.isInteger(repeats) || repeats < 1) throw new UsageError("--repeats needs a positive integer");
    } else if (argv[i].startsWith("--repeats=")) {
      repeats = Number(argv[i].slice("--repeats=".length));
      if (!Number.isInteger(repeats) || repeats < 1) throw new UsageError("--repeats needs a positive integer");
    } else pos.push(argv[i]);
  }
  if (pos.length !== 3) throw new UsageError("usage: node run_trace.mjs <automerge|yjs|loro> <trace.json.gz> <one|per-patch|concurrent> [--repeats N] [--profile]");
  const [engine, file, mode] = pos;
  if (!(engine in PKG)) throw new UsageError(`unknown engine ${engine}`);
  if (!MODES.includes(mode)) throw new UsageError(`unknown mode ${mode}`);
  return { engine, file, mode, repeats, profile };
}

function loadTrace(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith(".gz")) buf = zlib.gunzipSync(buf);
  return JSON.parse(buf.toString("utf8"));
}

// ---------------------------------------------------------------------------
// Trace positions are in code points; all three JS engines index text in
// UTF-16 code units. They agree unless a text has astral characters; in that
// case a sequential trace is converted once, untimed, by a plain replay.
const ASTRAL = /[\ud800-\udfff]/;

function hasAstral(trace) {
  if (trace.startContent && ASTRAL.test(trace.startContent)) return true;
  for (const t of trace.txns) for (const p of t.patches) if (p[2] && ASTRAL.test(p[2])) return true;
  return false;
}

function toUtf16Patches(trace) {
  const cps = Array.from(trace.startContent || "");
  const u16 = (cpPos) => { let n = 0; for (let i = 0; i < cpPos; i++) n += cps[i].length; return n; };
  return trace.txns.map((t) => ({
    ...t,
    patches: t.patches.map(([pos, del, ins]) => {
      const p16 = u16(pos);
      let d16 = 0;
      for (let i = pos; i < pos + del; i++) d16 += cps[i].length;
      const insCps = Array.from(ins || "");
      cps.splice(pos, del, ...insCps);
      return [p16, d16, ins || ""];
    }),
  }));
}

// ---------------------------------------------------------------------------
// Engine adapters. Every adapter offers the same operations; the drivers
// below time them identically.
//   create(agent)           empty doc for that agent (sequential: agent 0)
//   edit(doc, patches)      one transaction/commit with these patches -> doc
//   fork(doc, agent)        independent copy that edits as `agent`
//   adopt(doc, agent)       take over doc (no other user) to edit as `agent`
//   merge(doc, other)       doc := merge(doc, other) -> doc
//   text(doc)               current text
//   exportHistory(doc, ctx) untimed: {note, data}, the history as the engine's own changes
//   applyHistory(hist)      timed B2: new empty doc + apply hist.data -> doc
//   save(doc)/load(bytes)   B3
//   nChanges(doc, ctx)
//   free(doc)

async function makeAutomerge() {
  const A = await import("@automerge/automerge");
  const actorOf = (agent) => (agent + 1).toString(16).padStart(16, "0");
  const GENESIS_ACTOR = "0".repeat(16);
  // The text object must be created by some change; one genesis change, made
  // untimed, is the common ancestor of every replica (Yjs and Loro need none).
  let genesis = null;
  const genesisDoc = () => {
    if (!genesis) genesis = A.change(A.init({ actor: GENESIS_ACTOR }), (d) => { d.text = ""; });
    return genesis;
  };
  const applyPatches = (d, patches) => {
    for (const [pos, del, ins] of patches) A.splice(d, ["text"], pos, del, ins);
  };
  return {
    name: "automerge",
    create(agent) { return A.clone(genesisDoc(), { actor: actorOf(agent) }); },
    edit(doc, patches) { return A.change(doc, (d) => applyPatches(d, patches)); },
    fork(doc, agent) { return A.clone(doc, { actor: actorOf(agent) }); },
    adopt(doc, agent) {
      if (A.getActorId(doc) === actorOf(agent)) return doc;
      const c = A.clone(doc, { actor: actorOf(agent) });
      A.free(doc);
      return c;
    },
    merge(doc, other) { return A.merge(doc, other); },
    text(doc) { return String(doc.text); },
    exportHistory(doc) { return { note: "Automerge: getAllChanges -> applyChanges(A.init())", data: A.getAllChanges(doc) }; },
    applyHistory(h) { const [d] = A.applyChanges(A.init(), h.data); return d; },
    save(doc) { return A.save(doc); },
    load(bytes) { return A.load(bytes); },
    nChanges(doc) { return A.getAllChanges(doc).length; },
    free(doc) { try { A.free(doc); } catch { /* already freed */ } },
  };
}

async function makeYjs() {
  const Y = await import("yjs");
  const clientOf = (agent) => agent + 1;
  const applyPatches = (text, patches) => {
    for (const [pos, del, ins] of patches) {
      if (del > 0) text.delete(pos, del);
      if (ins) text.insert(pos, ins);
    }
  };
  // onLocal, when set, hears every update a local transaction makes (the change stream
  // of an untimed re-run; remote updates and forks' copies are not local).
  let onLocal = null;
  const newDoc = (agent) => {
    const d = new Y.Doc();
    d.clientID = clientOf(agent);
    if (onLocal) { const f = onLocal; d.on("update", (u, _o, _d, tr) => { if (tr.local) f(u); }); }
    return d;
  };
  // Yjs replaces a doc's clientID at random when a remote update brings items
  // under that clientID (it assumes a clash). Merging a branch that holds the
  // agent's own earlier items would trigger that and change the tie-breaking,
  // so remote updates are applied under a clientID that no agent uses.
  const NEUTRAL = 0x7ffffff0;
  const applyRemote = (d, update) => {
    const id = d.clientID;
    d.clientID = NEUTRAL;
    Y.applyUpdate(d, update);
    d.clientID = id;
  };
  return {
    name: "yjs",
    create(agent) { return newDoc(agent); },
    edit(doc, patches) {
      const text = doc.getText("text");
      doc.transact(() => applyPatches(text, patches));
      return doc;
    },
    fork(doc, agent) { const d = newDoc(agent); applyRemote(d, Y.encodeStateAsUpdate(doc)); return d; },
    adopt(doc, agent) { doc.clientID = clientOf(agent); return doc; },
    merge(doc, other) { applyRemote(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc))); return doc; },
    text(doc) { return doc.getText("text").toString(); },
    exportHistory(doc, ctx) {
      if (ctx.mode === "per-patch") {
        // Untimed second replay with an update listener, so that B1 itself
        // runs without the listener (the other engines export nothing in B1).
        const d = newDoc(0);
        const updates = [];
        d.on("update", (u) => updates.push(u));
        if (ctx.startContent) this.edit(d, [[0, 0, ctx.startContent]]);
        for (const t of ctx.txns) this.edit(d, t.patches);
        d.destroy();
        ctx.yUpdates = updates.length;
        return { note: `Yjs: ${updates.length} per-transaction updates (doc.on('update'), collected in an untimed re-run of B1), applied one by one`, data: updates, list: true };
      }
      return { note: "Yjs: one update from encodeStateAsUpdate", data: Y.encodeStateAsUpdate(doc), list: false };
    },
    // Concurrent traces: B2 above applies the merged state (encodeStateAsUpdate). As a
    // reference, the per-transaction updates every replica's local transactions made
    // (Yjs's change stream, what its peers send while they edit), collected by an untimed
    // re-run of the replay with listeners, applied one by one in the trace's order.
    changeStream(trace) {
      const updates = [];
      onLocal = (u) => updates.push(u);
      try {
        const r = b1Concurrent(this, trace, false);
        this.free(r.doc);
      } finally {
        onLocal = null;
      }
      return { note: `Yjs: ${updates.length} per-transaction updates of every replica (untimed re-run of B1), applied one by one`, data: updates, list: true };
    },
    applyHistory(h) {
      const d = new Y.Doc();
      if (h.list) for (const u of h.data) Y.applyUpdate(d, u);
      else Y.applyUpdate(d, h.data);
      return d;
    },
    save(doc) { return Y.encodeStateAsUpdate(doc); },
    load(bytes) { const d = new Y.Doc(); Y.applyUpdate(d, bytes); return d; },
    nChanges(doc, ctx) {
      // Yjs has no change log: count the transactions that produced an update.
      if (ctx.mode === "per-patch") return ctx.yUpdates;
      if (ctx.mode === "one") return 1;
      return ctx.nTxns;
    },
    free(doc) { doc.destroy(); },
  };
}

async function makeLoro() {
  const { LoroDoc } = await import("loro-crdt");
  const peerOf = (agent) => BigInt(agent + 1);
  const applyPatches = (text, patches) => {
    for (const [pos, del, ins] of patches) {
      if (del > 0) text.delete(pos, del);
      if (ins) text.insert(pos, ins);
    }
  };
  return {
    name: "loro",
    create(agent) { const d = new LoroDoc(); d.setPeerId(peerOf(agent)); return d; },
    // Container handles pin the doc's memory until freed: free them at once.
    edit(doc, patches) { const t = doc.getText("text"); applyPatches(t, patches); t.free(); doc.commit(); return doc; },
    fork(doc, agent) { const d = doc.fork(); d.setPeerId(peerOf(agent)); return d; },
    adopt(doc, agent) { doc.setPeerId(peerOf(agent)); return doc; },
    merge(doc, other) {
      const vv = doc.oplogVersion();
      doc.import(other.export({ mode: "update", from: vv }));
      vv.free();
      return doc;
    },
    text(doc) { const t = doc.getText("text"); const s = t.toString(); t.free(); return s; },
    exportHistory(doc) { return { note: "Loro: export({mode:'update'}) -> import into new LoroDoc", data: doc.export({ mode: "update" }) }; },
    applyHistory(h) { const d = new LoroDoc(); d.import(h.data); return d; },
    save(doc) { return doc.export({ mode: "snapshot" }); },
    load(bytes) { const d = new LoroDoc(); d.import(bytes); return d; },
    nChanges(doc) { return doc.changeCount(); },
    free(doc) { try { doc.free(); } catch { /* already freed */ } },
  };
}

// ---------------------------------------------------------------------------
// B1 drivers.

function b1Sequential(E, trace, txns, mode) {
  let doc = E.create(0);
  if (trace.startContent) doc = E.edit(doc, [[0, 0, trace.startContent]]); // untimed setup
  const all = [];
  if (mode === "one") for (const t of txns) for (const p of t.patches) all.push(p);
  const t0 = performance.now();
  if (mode === "one") {
    doc = E.edit(doc, all);
  } else {
    for (const t of txns) doc = E.edit(doc, t.patches);
  }
  const ms = performance.now() - t0;
  return { doc, ms };
}

function b1Concurrent(E, trace, profile) {
  const txns = trace.txns;
  const n = txns.length;
  const docs = new Array(n);
  const remaining = txns.map((t) => t.numChildren);
  let forks = 0, merges = 0;
  const release = (p) => { if (--remaining[p] === 0 && docs[p]) { P("free", () => E.free(docs[p])); docs[p] = null; } };
  const prof = { fork: 0, adopt: 0, merge: 0, edit: 0, free: 0 };
  const P = profile
    ? (k, f) => { const s = performance.now(); const r = f(); prof[k] += performance.now() - s; return r; }
    : (_k, f) => f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = txns[i];
    const ps = t.parents;
    let doc;
    if (ps.length === 0) {
      doc = E.create(t.agent);
    } else {
      // base: a parent nobody else needs (prefer the same agent), else a fork
      let base = -1;
      for (const p of ps) if (remaining[p] === 1 && txns[p].agent === t.agent) { base = p; break; }
      if (base < 0) for (const p of ps) if (remaining[p] === 1) { base = p; break; }
      if (base >= 0) {
        doc = P("adopt", () => E.adopt(docs[base], t.agent));
        docs[base] = null;
        remaining[base]--;
      } else {
        base = ps[0];
        doc = P("fork", () => E.fork(docs[base], t.agent));
        forks++;
        release(base);
      }
      for (const p of ps) {
        if (p === base) continue;
        doc = P("merge", () => E.merge(doc, docs[p]));
        merges++;
        release(p);
      }
    }
    doc = P("edit", () => E.edit(doc, t.patches));
    docs[i] = doc;
  }
  // final document: merge of all leaves
  const leaves = [];
  for (let i = 0; i < n; i++) if (txns[i].numChildren === 0) leaves.push(i);
  let doc = docs[leaves[0]];
  docs[leaves[0]] = null;
  for (const l of leaves.slice(1)) { doc = E.merge(doc, docs[l]); merges++; E.free(docs[l]); docs[l] = null; }
  const ms = performance.now() - t0;
  for (let i = 0; i < n; i++) if (docs[i]) { E.free(docs[i]); docs[i] = null; }
  return { doc, ms, forks, merges, leaves: leaves.length, prof: profile ? prof : undefined };
}

// ---------------------------------------------------------------------------

let rssBeforeStream = null; // peak RSS before the last change-stream step, if any

async function main() {
  const out = {
    engine: null, version: null, trace: null, mode: null,
    b1_ms: [], b2_ms: [], load_ms: [], save_bytes: null, n_changes: null,
    peak_rss_kib: null, ok: false, error: null,
  };
  try {
    const args = parseArgs(process.argv.slice(2));
    Object.assign(out, {
      engine: args.engine, version: pkgVersion(PKG[args.engine]),
      trace: traceName(args.file), mode: args.mode,
    });
    const trace = loadTrace(args.file);
    const concurrent = args.mode === "concurrent";
    if (concurrent !== (trace.kind === "concurrent" || Array.isArray(trace.txns[0]?.parents))) {
      throw new Error(`mode ${args.mode} does not fit this trace`);
    }
    let txns = trace.txns;
    if (hasAstral(trace)) {
      if (concurrent) throw new Error("astral characters in a concurrent trace: code point -> UTF-16 conversion not supported");
      txns = toUtf16Patches(trace);
      out.positions = "converted code points -> UTF-16 (untimed)";
    }
    const E = args.engine === "automerge" ? await makeAutomerge()
      : args.engine === "yjs" ? await makeYjs() : await makeLoro();
    const expected = trace.endContent;
    out.n_txns = trace.txns.length;
    const failures = [];
    const check = (step, rep, got) => {
      if (got !== expected && failures.length < 5) {
        let k = 0;
        while (k < got.length && got[k] === expected[k]) k++;
        failures.push(`${step} (repeat ${rep}): text differs at ${k} (len ${got.length} vs ${expected.length})`);
      }
    };
    for (let rep = 0; rep < args.repeats; rep++) {
      if (globalThis.gc) globalThis.gc();
      const ctx = { mode: args.mode, txns, startContent: trace.startContent, nTxns: trace.txns.length };
      // B1
      const r = concurrent ? b1Concurrent(E, trace, args.profile) : b1Sequential(E, trace, txns, args.mode);
      out.b1_ms.push(r.ms);
      if (concurrent) Object.assign(out, { forks: r.forks, merges: r.merges, leaves: r.leaves });
      if (r.prof) out.b1_profile_ms = Object.fromEntries(Object.entries(r.prof).map(([k, v]) => [k, Math.round(v)]));
      check("B1", rep, E.text(r.doc));
      // B2
      const hist = E.exportHistory(r.doc, ctx);
      out.b2_note = hist.note;
      let t0 = performance.now();
      const d2 = E.applyHistory(hist);
      const txt2 = E.text(d2);
      out.b2_ms.push(performance.now() - t0);
      check("B2", rep, txt2);
      E.free(d2);
      // B3
      const bytes = E.save(r.doc);
      out.save_bytes = bytes.length;
      t0 = performance.now();
      const d3 = E.load(bytes);
      const txt3 = E.text(d3);
      out.load_ms.push(performance.now() - t0);
      check("load", rep, txt3);
      E.free(d3);
      out.n_changes = E.nChanges(r.doc, ctx);
      E.free(r.doc);
      // B2 as a change stream, where the engine's B2 above is a state transfer (Yjs). Last,
      // and the peak RSS is read before it: its re-run of the replay is no step of B1-B4.
      if (concurrent && E.changeStream) {
        rssBeforeStream = process.resourceUsage().maxRSS;
        const cs = E.changeStream(trace);
        out.b2_stream_note = cs.note;
        t0 = performance.now();
        const d2s = E.applyHistory(cs);
        const txt2s = E.text(d2s);
        (out.b2_stream_ms ||= []).push(performance.now() - t0);
        check("B2 stream", rep, txt2s);
        E.free(d2s);
      }
    }
    out.ok = failures.length === 0;
    out.error = out.ok ? null : failures.join("; ");
  } catch (e) {
    if (e instanceof UsageError) process.exitCode = 2;
    out.ok = false;
    out.error = `${e && e.name ? e.name : "Error"}: ${e && e.message ? e.message : String(e)}`;
  }
  out.b1_ms = out.b1_ms.map((x) => Math.round(x * 1000) / 1000);
  out.b2_ms = out.b2_ms.map((x) => Math.round(x * 1000) / 1000);
  out.load_ms = out.load_ms.map((x) => Math.round(x * 1000) / 1000);
  if (out.b2_stream_ms) out.b2_stream_ms = out.b2_stream_ms.map((x) => Math.round(x * 1000) / 1000);
  out.peak_rss_kib = rssBeforeStream ?? process.resourceUsage().maxRSS;
  if (rssBeforeStream !== null) out.peak_rss_stream_kib = process.resourceUsage().maxRSS;
  process.stdout.write(JSON.stringify(out) + "\n");
}

await main();
