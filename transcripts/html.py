"""A transcript as one self-contained HTML page.

The page holds the run's data as JSON and a small script that draws it: a
collapsible tree (each node's question, answer, who worked it, calls, tokens
and time), a details pane with everything a node did (prompts and responses
of its model calls, oracle lookups, a person's inputs), and a search box that
finds and reveals nodes by id, question or answer. It loads nothing: no
stylesheet, script, font or image from anywhere, and its Content-Security-Policy
forbids any fetch, so it opens offline and leaks nothing when opened.

All text from the transcript is inserted with ``textContent`` (never parsed
as HTML), and the embedded JSON is escaped so that no string can close the
script element that holds it.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from transcripts.events import RunEnd
from transcripts.reader import Transcript
from transcripts.show import node_stats, tree_of


def page_data(transcript: Transcript) -> dict[str, Any]:
    """What the page shows, as JSON-able data."""
    root = tree_of(transcript)
    nodes = []
    for node in root.walk():
        stats = node_stats(node)
        nodes.append(
            {
                "id": node.node_id,
                "parent": node.parent_id,
                "question": node.question,
                "status": node.status,
                "worker": node.worker,
                "level": node.level,
                "budget": node.budget,
                "answer": node.answer,
                "error": node.error,
                "spent": node.spent,
                "token_budget": node.token_budget,
                "tokens_spent": node.tokens_spent,
                "source": node.source_id,
                "reason": node.reason,
                "children": [c.node_id for c in node.children],
                "stats": {
                    "model": stats.model_calls,
                    "oracle": stats.oracle_calls,
                    "human": stats.human_inputs,
                    "tokens": stats.tokens,
                    "seconds": stats.seconds,
                },
                "events": [_event_data(e) for e in node.events],
            }
        )
    end = transcript.end
    header = transcript.header
    return {
        "header": {
            "run_id": header.run_id,
            "created": header.created,
            "hch_version": header.hch_version,
            "question": header.question,
            "settings": header.settings,
            "prompts": header.prompts,
        },
        "end": end.model_dump(mode="json") if isinstance(end, RunEnd) else None,
        "cut": transcript.cut,
        "file": transcript.path.name,
        "nodes": nodes,
    }


def _event_data(event: Any) -> dict[str, Any]:
    data: dict[str, Any] = event.model_dump(mode="json", exclude={"hash"})
    return data


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def export_html(transcript: Transcript) -> str:
    """The page for ``transcript``."""
    title = f"hch run {transcript.header.run_id}: {transcript.header.question}"
    parts = {
        "TITLE": html.escape(title[:200]),
        "STYLE": _STYLE,
        "SCRIPT": _SCRIPT,
        "DATA": _script_json(page_data(transcript)),
    }
    # One pass, so that text from the transcript is never itself substituted.
    return re.sub(r"@@(TITLE|STYLE|SCRIPT|DATA)@@", lambda m: parts[m.group(1)], _TEMPLATE)


def write_html(transcript: Transcript, path: Path) -> int:
    """Write the page to ``path``; return its size in bytes."""
    text = export_html(transcript)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@@TITLE@@</title>
<style>@@STYLE@@</style>
</head>
<body>
<header id="top">
  <div id="summary"></div>
  <div id="controls">
    <input id="search" type="search" placeholder="Search id, question or answer (Enter: next)" autocomplete="off">
    <span id="search-count"></span>
    <button type="button" id="expand-all">Expand all</button>
    <button type="button" id="collapse-all">Collapse all</button>
  </div>
</header>
<main>
  <section id="tree-pane" aria-label="tree"><ul id="tree" class="tree" role="tree"></ul></section>
  <section id="details" aria-label="node details"><p class="hint">Select a node to see its details.</p></section>
</main>
<script type="application/json" id="hch-data">@@DATA@@</script>
<script>@@SCRIPT@@</script>
</body>
</html>
"""

_STYLE = """
:root { --fg:#1d2330; --dim:#6b7280; --line:#d9dde5; --sel:#e8f0ff; --hit:#fff3b0; --ok:#17663a; --bad:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); }
header#top { position:sticky; top:0; background:#f7f8fa; border-bottom:1px solid var(--line);
  padding:8px 12px; z-index:1; }
#summary .q { font-weight:600; }
#summary .meta { color:var(--dim); font-size:12px; }
#controls { margin-top:6px; display:flex; gap:8px; align-items:center; }
#search { flex:0 1 420px; padding:4px 8px; }
main { display:flex; height:calc(100vh - 90px); }
#tree-pane { flex:1 1 55%; overflow:auto; padding:8px 12px; border-right:1px solid var(--line); }
#details { flex:1 1 45%; overflow:auto; padding:8px 16px; }
ul.tree, ul.children { list-style:none; margin:0; padding-left:18px; }
ul.tree { padding-left:0; }
li.node > .row { display:flex; gap:6px; align-items:baseline; padding:1px 4px; border-radius:4px; cursor:pointer; }
li.node > .row:hover { background:#f1f3f7; }
li.node > .row.selected { background:var(--sel); }
li.node > .row.hit { background:var(--hit); }
.toggle { width:18px; border:none; background:none; cursor:pointer; padding:0; font-size:11px; color:var(--dim); }
.toggle.leaf { visibility:hidden; }
.nid { color:#2557a7; font-family:ui-monospace, monospace; font-size:12px; }
.question { font-weight:500; }
.answer { color:var(--ok); }
.answer.error, .answer.refused { color:var(--bad); }
.meta { color:var(--dim); font-size:12px; }
ul.children[hidden] { display:none; }
#details h2 { font-size:16px; margin:8px 0; }
#details table.facts td:first-child { font-weight:600; padding-right:12px; vertical-align:top; white-space:nowrap; }
.event { border:1px solid var(--line); border-radius:6px; margin:8px 0; padding:6px 8px; }
.event .title { font-weight:600; font-size:12px; color:var(--dim); }
.event.debate_turn.honest { border-left:4px solid #2e7d32; }
.event.debate_turn.liar { border-left:4px solid #c62828; }
.msg { margin:4px 0; }
.msg .role { font-weight:600; font-size:12px; color:#2557a7; }
pre { white-space:pre-wrap; word-break:break-word; margin:2px 0; font:12px/1.4 ui-monospace, monospace;
  background:#f7f8fa; padding:4px 6px; border-radius:4px; }
a.jump { color:#2557a7; cursor:pointer; text-decoration:underline; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("hch-data").textContent);
  var byId = {};
  data.nodes.forEach(function (n) { byId[n.id] = n; });
  var root = data.nodes[0];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clip(s, n) {
    s = String(s == null ? "" : s).replace(/\s+/g, " ").trim();
    return s.length > n ? s.slice(0, n - 1) + "\u2026" : s;
  }

  // Summary
  var summary = document.getElementById("summary");
  summary.appendChild(el("div", "q", "Question: " + data.header.question));
  var endText = data.end ? (data.end.status === "ok" ? "Answer: " + data.end.answer
                                                      : "Run " + data.end.status + ": " + data.end.error)
                         : "Unfinished: " + data.cut;
  summary.appendChild(el("div", "a", endText));
  var worked = data.nodes.filter(function (n) { return n.status === "worked"; }).length;
  summary.appendChild(el("div", "meta", "run " + data.header.run_id + " \u00b7 " + data.header.created +
    " \u00b7 hch " + data.header.hch_version + " \u00b7 " + data.nodes.length + " nodes (" + worked +
    " worked) \u00b7 " + data.file));
  var tokenBudget = data.header.settings.token_budget;
  if (typeof tokenBudget === "number") {
    var rootNode = data.nodes.length ? data.nodes[0] : null;
    var spentTokens = rootNode && rootNode.tokens_spent !== null ? rootNode.tokens_spent : "?";
    summary.appendChild(el("div", "meta tokens", "token budget: " + spentTokens + " of " + tokenBudget + " spent"));
  }

  // Tree: children are built on first expansion.
  var liById = {};
  function answerSpan(n) {
    if (n.status === "refused") return el("span", "answer refused", "refused: " + clip(n.reason, 80));
    if (n.error) return el("span", "answer error", "error: " + clip(n.error, 80));
    if (n.answer === null || n.answer === undefined) return el("span", "answer pending", "(unfinished)");
    return el("span", "answer", n.answer);
  }
  function metaText(n) {
    if (n.status === "reused") return "reused from " + n.source;
    if (n.status === "refused") return "refused";
    var parts = [n.worker || "?"], s = n.stats;
    if (s.model) parts.push(s.model + " model");
    if (s.oracle) parts.push(s.oracle + " oracle");
    if (s.human) parts.push(s.human + " human");
    if (s.tokens) parts.push(s.tokens + " tok");
    if (s.seconds !== null && s.seconds !== undefined) parts.push(s.seconds.toFixed(2) + "s");
    return parts.join(" \u00b7 ");
  }
  function makeLi(n) {
    var li = el("li", "node");
    li.setAttribute("data-node-id", n.id);
    li.setAttribute("role", "treeitem");
    var row = el("div", "row");
    var toggle = el("button", "toggle" + (n.children.length ? "" : " leaf"), n.children.length ? "\u25b6" : "");
    toggle.type = "button";
    toggle.setAttribute("aria-label", "expand " + n.id);
    toggle.setAttribute("aria-expanded", "false");
    row.appendChild(toggle);
    row.appendChild(el("span", "nid", n.id));
    row.appendChild(el("span", "question", clip(n.question, 140)));
    row.appendChild(el("span", "arrow", "\u2192"));
    row.appendChild(answerSpan(n));
    row.appendChild(el("span", "meta", "[" + metaText(n) + "]"));
    li.appendChild(row);
    toggle.addEventListener("click", function (ev) { ev.stopPropagation(); setOpen(n.id, !isOpen(n.id)); });
    row.addEventListener("click", function () { select(n.id); });
    liById[n.id] = li;
    return li;
  }
  function childList(id) {
    var li = liById[id];
    var ul = li.querySelector(":scope > ul.children");
    if (!ul) {
      ul = el("ul", "children");
      ul.setAttribute("role", "group");
      ul.hidden = true;
      byId[id].children.forEach(function (cid) { ul.appendChild(makeLi(byId[cid])); });
      li.appendChild(ul);
    }
    return ul;
  }
  function isOpen(id) {
    var ul = liById[id] && liById[id].querySelector(":scope > ul.children");
    return !!ul && !ul.hidden;
  }
  function setOpen(id, open) {
    var n = byId[id];
    if (!n.children.length) return;
    var ul = childList(id);
    ul.hidden = !open;
    var t = liById[id].querySelector(":scope > .row > .toggle");
    t.textContent = open ? "\u25bc" : "\u25b6";
    t.setAttribute("aria-expanded", open ? "true" : "false");
    t.setAttribute("aria-label", (open ? "collapse " : "expand ") + id);
  }
  function reveal(id) {
    var chain = [], cur = byId[id];
    while (cur && cur.parent !== null && cur.parent !== undefined) {
      chain.unshift(cur.parent);
      cur = byId[cur.parent];
    }
    chain.forEach(function (pid) { setOpen(pid, true); });
    return liById[id];
  }
  document.getElementById("tree").appendChild(makeLi(root));

  document.getElementById("expand-all").addEventListener("click", function () {
    data.nodes.forEach(function (n) { reveal(n.id); if (n.children.length) setOpen(n.id, true); });
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    data.nodes.forEach(function (n) { if (liById[n.id]) setOpen(n.id, false); });
  });

  // Details pane.
  var details = document.getElementById("details");
  var selected = null;
  function fact(table, k, v) {
    var tr = el("tr"); tr.appendChild(el("td", null, k));
    var td = el("td"); if (v instanceof Node) td.appendChild(v); else td.textContent = String(v);
    tr.appendChild(td); table.appendChild(tr);
  }
  function jump(id) {
    var a = el("a", "jump", id);
    a.addEventListener("click", function () { select(id); });
    return a;
  }
  function pre(text) { return el("pre", null, text); }
  function eventBox(e) {
    var box = el("div", "event " + e.kind);
    if (e.kind === "model_call") {
      var tokens = e.usage && e.usage.total_tokens ? " \u00b7 " + e.usage.total_tokens + " tokens" : "";
      box.appendChild(el("div", "title", "model call \u00b7 " + e.purpose + " \u00b7 " + e.source + " \u00b7 " +
        e.latency_s.toFixed(2) + "s" + tokens + " \u00b7 request " + e.request_hash.slice(0, 12)));
      (e.request.messages || []).forEach(function (m) {
        var d = el("div", "msg prompt"); d.appendChild(el("div", "role", m.role)); d.appendChild(pre(m.content));
        box.appendChild(d);
      });
      var r = el("div", "msg response"); r.appendChild(el("div", "role", "response"));
      r.appendChild(pre(e.response !== null ? e.response : "(failed: " + e.error + ")"));
      box.appendChild(r);
    } else if (e.kind === "oracle_call") {
      box.appendChild(el("div", "title", "oracle lookup"));
      box.appendChild(pre(e.question + " \u2192 " + e.answer));
    } else if (e.kind === "human_input") {
      box.appendChild(el("div", "title", "person \u00b7 " + e.seconds.toFixed(1) + "s"));
      box.appendChild(el("div", "role", "shown")); box.appendChild(pre(e.shown));
      box.appendChild(el("div", "role", "prompt")); box.appendChild(pre(e.prompt));
      box.appendChild(el("div", "role", "typed")); box.appendChild(pre(e.typed));
    } else if (e.kind === "ask") {
      box.appendChild(el("div", "title", "asked " + e.questions.length + " subquestion(s)"));
      e.questions.forEach(function (q) { box.appendChild(pre(q)); });
    } else if (e.kind === "approval") {
      box.appendChild(el("div", "title", "approval " + e.approval + " \u00b7 " + e.verdict));
      box.appendChild(el("div", "role", "question")); box.appendChild(pre(e.question));
      box.appendChild(el("div", "role", "candidate")); box.appendChild(pre(e.candidate));
      e.evidence.forEach(function (x) {
        var how = x.status !== "worked" ? " (" + x.status + ")" : "";
        box.appendChild(el("div", "role", "asked " + x.child_id + how));
        box.appendChild(pre(x.subquestion + " \u2192 " + x.answer));
      });
      if (e.overseer_answer !== null) {
        box.appendChild(el("div", "role", "overseer's answer")); box.appendChild(pre(e.overseer_answer));
      }
      box.appendChild(el("div", "role", "reason")); box.appendChild(pre(e.reason));
    } else if (e.kind === "feedback") {
      box.appendChild(el("div", "title", "feedback \u00b7 prefers " + e.preferred + " \u00b7 " + e.basis));
      box.appendChild(el("div", "role", "question")); box.appendChild(pre(e.question));
      ["A", "B"].forEach(function (side) {
        box.appendChild(el("div", "role", side + (e.preferred === side ? " (preferred)" : "")));
        box.appendChild(pre(side === "A" ? e.answer_a : e.answer_b));
      });
      e.consulted.forEach(function (x) {
        box.appendChild(el("div", "role", "consulted " + x.child_id));
        box.appendChild(pre(x.question + " \u2192 " + x.answer));
      });
    } else if (e.kind === "reward_scores") {
      box.appendChild(el("div", "title", "reward scores \u00b7 best of " + e.candidates.length));
      box.appendChild(el("div", "role", "question")); box.appendChild(pre(e.question));
      e.candidates.forEach(function (c, i) {
        var mark = i === e.chosen ? " (chosen)" : "";
        box.appendChild(el("div", "role", "#" + i + mark + " \u00b7 reward " + e.scores[i]));
        box.appendChild(pre(c));
      });
    } else if (e.kind === "error") {
      box.appendChild(el("div", "title", "error"));
      box.appendChild(pre(e.error_type + ": " + e.message));
    } else if (e.kind === "debate_turn") {
      var verified = (e.quotes || []).filter(function (q) { return q.verified; }).length;
      var quotes = e.quotes && e.quotes.length ?
        " \u00b7 " + verified + "/" + e.quotes.length + " quotes verified" : "";
      box.classList.add(e.side);
      box.appendChild(el("div", "title", "debate turn " + e.turn + " \u00b7 " + e.debater + " (" + e.side +
        ") \u00b7 " + e.move + quotes));
      box.appendChild(pre(e.text));
    } else if (e.kind === "debate_verdict") {
      var rewards = Object.keys(e.rewards).sort().map(function (p) { return p + " " + e.rewards[p]; }).join(", ");
      box.appendChild(el("div", "title", "verdict \u00b7 judge " + e.judge + " \u00b7 " + e.turns +
        " turn(s) \u00b7 rewards " + rewards));
      var said = e.winner === null ? "no winner" : e.winner + " wins (" + e.winner_side + ")";
      if (e.fact) said += "\nfact checked: " + e.fact.question + " = " + e.fact.answer;
      box.appendChild(pre(said + "\nreason: " + e.reason));
    } else {
      return null;
    }
    return box;
  }
  function select(id) {
    var n = byId[id];
    var li = reveal(id);
    if (selected && liById[selected]) liById[selected].querySelector(":scope > .row").classList.remove("selected");
    selected = id;
    li.querySelector(":scope > .row").classList.add("selected");
    li.scrollIntoView({block: "nearest"});
    details.textContent = "";
    details.appendChild(el("h2", null, "Node " + n.id));
    var t = el("table", "facts");
    fact(t, "question", n.question);
    fact(t, "status", n.status);
    if (n.parent !== null) fact(t, "parent", jump(n.parent));
    if (n.status === "reused") fact(t, "shares", jump(n.source));
    if (n.status === "refused") fact(t, "reason", n.reason);
    if (n.worker) {
      fact(t, "worked by", n.worker);
      fact(t, "level", n.level);
      fact(t, "budget", n.budget === null ? "unbounded" : n.budget + " calls, spent " + n.spent);
      if (n.token_budget !== null) fact(t, "token budget", n.token_budget + " tokens, spent " + n.tokens_spent);
    }
    var ans = el("span", "answer detail-answer", n.answer === null ? "(none)" : n.answer);
    fact(t, "answer", ans);
    if (n.error) fact(t, "error", n.error);
    var s = n.stats;
    fact(t, "calls", s.model + " model, " + s.oracle + " oracle, " + s.human + " human \u00b7 " + s.tokens +
      " tokens" + (s.seconds !== null ? " \u00b7 " + s.seconds.toFixed(2) + "s" : ""));
    details.appendChild(t);
    n.events.forEach(function (e) { var b = eventBox(e); if (b) details.appendChild(b); });
    if (n.children.length) {
      details.appendChild(el("h2", null, "Children"));
      var ul = el("ul");
      n.children.forEach(function (cid) {
        var c = byId[cid], item = el("li");
        item.appendChild(jump(cid)); item.appendChild(document.createTextNode(" " + clip(c.question, 80) + " \u2192 "));
        item.appendChild(answerSpan(c)); ul.appendChild(item);
      });
      details.appendChild(ul);
    }
  }

  // Search.
  var search = document.getElementById("search"), count = document.getElementById("search-count");
  var hits = [], hitAt = -1;
  function clearHits() {
    hits.forEach(function (id) { if (liById[id]) liById[id].querySelector(":scope > .row").classList.remove("hit"); });
    hits = []; hitAt = -1;
  }
  search.addEventListener("input", function () {
    clearHits();
    var q = search.value.trim().toLowerCase();
    if (!q) { count.textContent = ""; return; }
    data.nodes.forEach(function (n) {
      var hay = (n.id + "\n" + n.question + "\n" + (n.answer || "") + "\n" + (n.error || "")).toLowerCase();
      if (hay.indexOf(q) >= 0) hits.push(n.id);
    });
    hits.slice(0, 500).forEach(function (id) { reveal(id).querySelector(":scope > .row").classList.add("hit"); });
    count.textContent = hits.length + " match" + (hits.length === 1 ? "" : "es");
  });
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && hits.length) { hitAt = (hitAt + 1) % hits.length; select(hits[hitAt]); }
  });

  select(root.id);
})();
"""
