#!/usr/bin/env node
// JSON-lines conformance driver for Automerge.
//
// Reads one JSON command per line on stdin, handles each line as it arrives
// and writes at most one JSON line per reply on stdout (pipes are written
// synchronously by Node on Linux, so every reply is out before the next line
// is read). Commands (see README.md):
//
//   {"cmd":"new","peer":"A","actor":"<hex>"}
//   {"cmd":"make","peer":"A","path":[...],"type":"map"|"list"|"text"}
//   {"cmd":"put","peer":"A","path":[...],"value":<scalar>}
//   {"cmd":"delete","peer":"A","path":[...]}
//   {"cmd":"insert","peer":"A","path":[...,index],"value":<scalar>}
//   {"cmd":"splice","peer":"A","path":[...],"pos":N,"del":N,"text":"..."}
//   {"cmd":"commit","peer":"A"}
//   {"cmd":"sync","from":"A","to":"B"}
//   {"cmd":"dump","peer":"A"}          -> {"peer","value","heads"}
//   {"cmd":"conflicts","peer":"A","path":[...]} -> {"peer","conflicts":{opid: value}}
//   {"cmd":"last_change","peer":"A"}   -> {"peer","change":<A.decodeChange of the
//                                          peer's last local change, or null>}
//   any error                          -> {"error":"<ErrorClass>","message":"..."}
//
// Edit commands are queued per peer and run together, in order, inside one
// A.change() on "commit", so one commit is one Automerge change (none if it
// made no ops). Each edit is checked when it arrives by a trial run of the
// queue on a throwaway clone, so an error is reported on the line that caused
// it and that command is dropped. Queued commands address the document by path
// and index when the commit runs: if a sync brings changes into a peer that
// has queued commands, they apply to the synced state.

import readline from "node:readline";
import { format } from "node:util";

// stdout carries protocol replies only: library chatter goes to stderr.
console.log = console.info = console.debug = (...a) => process.stderr.write(format(...a) + "\n");
import * as A from "@automerge/automerge";

class ProtocolError extends Error {
  constructor(message) { super(message); this.name = "ProtocolError"; }
}

const peers = new Map(); // name -> { doc, queue: [] }

function out(obj) {
  process.stdout.write(JSON.stringify(obj, jsonReplacer) + "\n");
}

function jsonReplacer(_key, v) {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  return v;
}

function peer(name) {
  const p = peers.get(name);
  if (!p) throw new ProtocolError(`unknown peer ${JSON.stringify(name)}`);
  return p;
}

function isScalar(v) {
  return v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function scalar(v) {
  if (!isScalar(v)) throw new TypeError(`value must be a JSON scalar, got ${JSON.stringify(v)}`);
  if (typeof v === "number" && !Number.isFinite(v)) throw new TypeError("value must be a finite number");
  return typeof v === "string" ? new A.ImmutableString(v) : v;
}

function checkPath(path, minLen = 1) {
  if (!Array.isArray(path) || path.length < minLen) throw new ProtocolError(`path must be an array of at least ${minLen} element(s)`);
  for (const el of path) {
    if (typeof el !== "string" && !(Number.isInteger(el) && el >= 0)) {
      throw new ProtocolError(`path elements are map keys (strings) or list indexes (ints >= 0), got ${JSON.stringify(el)}`);
    }
  }
}

// Walk a change-callback proxy down to the container holding the last element.
function parentOf(d, path) {
  let obj = d;
  for (let i = 0; i < path.length - 1; i++) {
    const el = path[i];
    if (obj === null || typeof obj !== "object") throw new TypeError(`path ${JSON.stringify(path.slice(0, i + 1))} does not lead into a map or list`);
    if (Array.isArray(obj)) {
      if (typeof el !== "number") throw new TypeError(`list index expected at ${JSON.stringify(path.slice(0, i + 1))}`);
      if (el >= obj.length) throw new RangeError(`index ${el} out of range (length ${obj.length})`);
    } else if (typeof el !== "string") {
      throw new TypeError(`map key expected at ${JSON.stringify(path.slice(0, i + 1))}`);
    } else if (!(el in obj)) {
      throw new TypeError(`no key ${JSON.stringify(el)} at ${JSON.stringify(path.slice(0, i))}`);
    }
    obj = obj[el];
  }
  if (obj === null || typeof obj !== "object") throw new TypeError(`path ${JSON.stringify(path.slice(0, -1))} is not a map or list`);
  return obj;
}

function listIndex(list, idx, allowEnd) {
  if (typeof idx !== "number") throw new TypeError(`list index expected, got ${JSON.stringify(idx)}`);
  const max = allowEnd ? list.length : list.length - 1;
  if (idx > max) throw new RangeError(`index ${idx} out of range (length ${list.length})`);
  return idx;
}

function mapKey(key) {
  if (typeof key !== "string") throw new TypeError(`map key expected, got ${JSON.stringify(key)}`);
  return key;
}

const EMPTY = { map: () => ({}), list: () => [], text: () => "" };

function applyEdit(d, c) {
  const path = c.path;
  const last = path[path.length - 1];
  switch (c.cmd) {
    case "make": {
      const parent = parentOf(d, path);
      const fresh = EMPTY[c.type]();
      if (Array.isArray(parent)) parent.insertAt(listIndex(parent, last, true), fresh);
      else parent[mapKey(last)] = fresh;
      return;
    }
    case "put": {
      const parent = parentOf(d, path);
      const v = scalar(c.value);
      if (Array.isArray(parent)) parent[listIndex(parent, last, false)] = v;
      else parent[mapKey(last)] = v;
      return;
    }
    case "delete": {
      const parent = parentOf(d, path);
      if (Array.isArray(parent)) parent.deleteAt(listIndex(parent, last, false));
      else {
        const k = mapKey(last);
        if (!(k in parent)) throw new RangeError(`no key ${JSON.stringify(k)} to delete`);
        delete parent[k];
      }
      return;
    }
    case "insert": {
      const parent = parentOf(d, path);
      if (!Array.isArray(parent)) throw new TypeError("insert needs a list");
      parent.insertAt(listIndex(parent, last, true), scalar(c.value));
      return;
    }
    case "splice": {
      const parent = parentOf(d, path);
      const t = Array.isArray(parent) ? parent[listIndex(parent, last, false)] : parent[mapKey(last)];
      if (typeof t !== "string") throw new TypeError(`path ${JSON.stringify(path)} is not a text object`);
      A.splice(d, path, c.pos, c.del, c.text);
      return;
    }
    default:
      throw new ProtocolError(`not an edit command: ${c.cmd}`);
  }
}

function checkEdit(c) {
  checkPath(c.path);
  if (c.cmd === "make" && !(c.type in EMPTY)) throw new ProtocolError(`type must be map, list or text, got ${JSON.stringify(c.type)}`);
  if ((c.cmd === "put" || c.cmd === "insert") && !("value" in c)) throw new ProtocolError(`${c.cmd} needs a value`);
  if (c.cmd === "splice") {
    if (!Number.isInteger(c.pos) || c.pos < 0 || !Number.isInteger(c.del) || c.del < 0) throw new ProtocolError("splice needs integer pos >= 0 and del >= 0");
    if (typeof c.text !== "string") throw new ProtocolError("splice needs a text string");
  }
}

function runQueue(doc, queue) {
  return A.change(doc, (d) => { for (const c of queue) applyEdit(d, c); });
}

// Plain JSON view: maps -> objects, lists -> arrays, text -> string,
// ImmutableString -> string.
function plain(v) {
  if (v instanceof A.ImmutableString) return v.toString();
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Date) return v.getTime();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (typeof v.value === "number" && v.constructor && v.constructor.name === "Counter") return v.value;
  if (Array.isArray(v)) return v.map(plain);
  const o = {};
  for (const k of Object.keys(v)) o[k] = plain(v[k]);
  return o;
}

function handle(c) {
  if (c === null || typeof c !== "object" || Array.isArray(c)) throw new ProtocolError("a command is a JSON object");
  switch (c.cmd) {
    case "new": {
      if (typeof c.peer !== "string") throw new ProtocolError("new needs a peer name");
      if (typeof c.actor !== "string" || !/^([0-9a-fA-F]{2})+$/.test(c.actor)) throw new ProtocolError("actor must be a non-empty even-length hex string");
      const old = peers.get(c.peer);
      if (old) A.free(old.doc);
      peers.set(c.peer, { doc: A.init({ actor: c.actor.toLowerCase() }), queue: [] });
      return;
    }
    case "make": case "put": case "delete": case "insert": case "splice": {
      const p = peer(c.peer);
      checkEdit(c);
      // trial run on a throwaway clone: report the error now, queue only good edits
      const trial = A.clone(p.doc);
      try {
        const after = runQueue(trial, [...p.queue, c]);
        A.free(after);
      } finally {
        try { A.free(trial); } catch { /* already consumed */ }
      }
      p.queue.push(c);
      return;
    }
    case "commit": {
      const p = peer(c.peer);
      const queue = p.queue;
      p.queue = [];
      if (queue.length === 0) return;
      p.doc = runQueue(p.doc, queue);
      return;
    }
    case "sync": {
      const from = peer(c.from);
      const to = peer(c.to);
      if (from === to) return;
      to.doc = A.merge(to.doc, from.doc); // committed changes only: queued edits are not in from.doc
      return;
    }
    case "dump": {
      const p = peer(c.peer);
      out({ peer: c.peer, value: plain(A.toJS(p.doc)), heads: [...A.getHeads(p.doc)].sort() });
      return;
    }
    case "conflicts": {
      const p = peer(c.peer);
      checkPath(c.path);
      const parent = parentOf(p.doc, c.path);
      const last = c.path[c.path.length - 1];
      const conf = A.getConflicts(parent, last) || {};
      const res = {};
      for (const [k, v] of Object.entries(conf)) res[k] = plain(v);
      out({ peer: c.peer, conflicts: res });
      return;
    }
    case "last_change": {
      const p = peer(c.peer);
      const ch = A.getLastLocalChange(p.doc);
      out({ peer: c.peer, change: ch ? A.decodeChange(ch) : null });
      return;
    }
    default:
      throw new ProtocolError(`unknown cmd ${JSON.stringify(c.cmd)}`);
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  try {
    handle(JSON.parse(line));
  } catch (e) {
    const name = (e && (e.name || (e.constructor && e.constructor.name))) || "Error";
    out({ error: name, message: e && e.message !== undefined ? String(e.message) : String(e) });
  }
});
rl.on("close", () => process.exit(0));
