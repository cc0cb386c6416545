// ct-analyze --html: the report's script (embedded into the binary). Plain JS,
// no libraries, no network. The data is the JSON in <script id="ct-data">,
// written by export/html_report.cpp from the database. Every text from the data
// goes into the page as text nodes (never as HTML). Bodies are built only when
// opened, conversations render 50 calls at a time and the timeline draws only
// the rows in view, so a long session stays light.
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('ct-data').textContent);
  const PAGE = 50;          // calls rendered per "show more"
  const LONG_TEXT = 4000;   // characters shown before "show all"
  const ROW_H = 20;         // timeline row height (px)
  const LABEL_W = 300;      // timeline label column (px)
  const NS = 'http://www.w3.org/2000/svg';

  // ---- helpers ----------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k in attrs) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v);
      }
    }
    for (const kid of kids) {
      if (kid === undefined || kid === null || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    return e;
  }
  const has = (v) => v !== undefined && v !== null;
  const numberFormat = new Intl.NumberFormat('en-US');
  function num(n) { return has(n) ? numberFormat.format(n) : '–'; }
  function dur(ns) {
    if (!has(ns)) return '–';
    const ms = ns / 1e6;
    if (Math.abs(ms) < 1) return ms.toFixed(2) + ' ms';
    if (Math.abs(ms) < 1000) return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(2) + ' s';
    const m = Math.floor(s / 60);
    return m + ' min ' + (s - m * 60).toFixed(1) + ' s';
  }
  function bytes(n) {
    if (!has(n)) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0, v = n;
    while (v >= 1024 && i < 3) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v) + ' ' + u[i];
  }
  // Times of hostile captures can be anything; a date past JavaScript's range is "?".
  function when(rel) {
    if (!has(rel)) return null;
    const d = new Date(D.meta.t0_ms + rel / 1e6);
    return isNaN(d.getTime()) ? null : d.toISOString();
  }
  function clock(rel) {
    if (!has(rel)) return '–';
    const w = when(rel);
    return w ? w.slice(11, 23) : '?';
  }
  function dateTime(rel) {
    if (!has(rel)) return '–';
    const w = when(rel);
    return w ? w.replace('T', ' ').slice(0, 23) + ' UTC' : '?';
  }
  function clip(s, n) {
    s = String(s);
    if (s.length > 4 * n) s = s.slice(0, 4 * n);  // never scan a long text whole
    s = s.replace(/\s+/g, ' ').trim();
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }
  function parse(text) {
    if (!has(text)) return null;
    try { return JSON.parse(text); } catch (e) { return undefined; }
  }
  const blobCache = new Map();
  function blob(id) {
    if (!has(id)) return null;
    if (!blobCache.has(id)) {
      const text = D.blobs[id];
      const j = parse(text);
      blobCache.set(id, { text: text, json: j === undefined ? null : j });
    }
    return blobCache.get(id);
  }

  // ---- search -----------------------------------------------------------
  let query = '';
  // Appends `text` to `parent`, with the current search words marked.
  function textInto(parent, text) {
    text = String(text);
    if (!query) { parent.append(text); return; }
    const lower = text.toLowerCase();
    let at = 0;
    for (;;) {
      const i = lower.indexOf(query, at);
      if (i < 0) break;
      parent.append(text.slice(at, i), el('mark', { text: text.slice(i, i + query.length) }));
      at = i + query.length;
    }
    parent.append(text.slice(at));
  }
  // A long text: the first LONG_TEXT characters, then a button for the rest.
  function longText(text, cls) {
    const pre = el('pre', { class: cls });
    text = String(text);
    if (text.length <= LONG_TEXT) { textInto(pre, text); return pre; }
    textInto(pre, text.slice(0, LONG_TEXT));
    const more = el('button', {
      class: 'more', text: 'show all ' + num(text.length) + ' characters',
      onclick: () => { more.remove(); textInto(pre, text.slice(LONG_TEXT)); }
    });
    pre.append('…', more);
    return pre;
  }
  function jsonText(v) {
    if (typeof v === 'string') {
      const j = parse(v);
      if (j !== undefined && j !== null && typeof j === 'object') return JSON.stringify(j, null, 2);
      return v;
    }
    return JSON.stringify(v, null, 2);
  }

  // ---- indexes ----------------------------------------------------------
  const httpById = new Map(D.http.map((h) => [h.id, h]));
  const connById = new Map(D.connections.map((c) => [c.id, c]));
  const llmByReq = new Map();
  const llmById = new Map();
  let running = 0;
  const totals = { tin: 0, tout: 0, tcw: 0, tcr: 0 };
  for (const c of D.llm) {
    c.seq = llmById.size + 1;  // in start order
    llmByReq.set(c.req, c);
    llmById.set(c.id, c);
    // The messages sent: the first `mk` of call `mp`'s, then `ma` (see html_report.cpp).
    c.msgs = has(c.mp) ? llmById.get(c.mp).msgs.slice(0, c.mk).concat(c.ma) : c.ma;
    for (const k in totals) totals[k] += c[k] || 0;
    running += (c.tin || 0) + (c.tout || 0) + (c.tcw || 0) + (c.tcr || 0);
    c.running = running;  // tokens of the session so far (calls in start order)
  }
  // Conversations: calls grouped by key in start order; calls without one alone.
  const conversations = [];
  {
    const byKey = new Map();
    for (const c of D.llm) {
      const key = c.conv || ('call-' + c.id);
      let g = byKey.get(key);
      if (!g) { g = { key: key, real: !!c.conv, calls: [] }; byKey.set(key, g); conversations.push(g); }
      c.group = g;
      c.index = g.calls.length;
      g.calls.push(c);
    }
  }

  // ---- messages and content blocks --------------------------------------
  function blockText(b) {
    if (typeof b === 'string') return b;
    if (!b || typeof b !== 'object') return '';
    if (typeof b.text === 'string') return b.text;
    if (typeof b.thinking === 'string') return '(thinking) ' + b.thinking;
    if (b.type === 'tool_use' || b.type === 'server_tool_use') return '→ ' + b.name + ' ' + JSON.stringify(b.input || {});
    if (b.type === 'function_call') return '→ ' + b.name + ' ' + (b.arguments || '');
    if (b.type === 'tool_result') return '← ' + contentText(b.content);
    if (b.type === 'function_call_output') return '← ' + contentText(b.output);
    if (b.type === 'image' || b.type === 'image_url' || b.type === 'input_image') return '[image]';
    if (b.type === 'reasoning' && Array.isArray(b.summary)) return '(reasoning) ' + b.summary.map(blockText).join(' ');
    if (b.type === 'message') return contentText(b.content);
    return '';
  }
  function contentText(c) {
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map(blockText).filter((t) => t).join(' ');
    if (c && typeof c === 'object') return blockText(c);
    return '';
  }
  // A message's role as shown: tool results sent back count as "tool".
  function roleOf(m) {
    if (!m || typeof m !== 'object') return 'user';
    if (m.role === 'tool' || m.type === 'function_call_output') return 'tool';
    if (m.type === 'function_call') return 'assistant';
    if (m.type === 'reasoning') return 'assistant';
    if (Array.isArray(m.content) && m.content.length &&
        m.content.every((b) => b && b.type === 'tool_result')) return 'tool';
    return m.role || m.type || 'user';
  }
  function messagePreview(m) {
    if (!m || typeof m !== 'object') return String(m);
    let t = contentText(m.content);
    if (Array.isArray(m.tool_calls)) t += ' ' + m.tool_calls.map((c) => '→ ' + ((c && (c.function || c).name) || '?')).join(' ');
    if (!m.content && m.type) t = blockText(m);
    return t;
  }

  function imageBlock(mediaType, data, size) {
    const ok = /^image\/(png|jpeg|gif|webp)$/.test(mediaType || '');
    const wrap = el('div', { class: 'block image' },
      el('div', { class: 'label', text: 'image ' + (mediaType || '?') + (has(size) ? ', ' + bytes(size) : '') }));
    if (ok && data) wrap.append(el('img', { src: 'data:' + mediaType + ';base64,' + data, alt: 'image', loading: 'lazy' }));
    return wrap;
  }
  function toolResultBlock(b, ctx) {
    const id = b.tool_use_id || b.call_id || b.tool_call_id;
    const name = id && ctx.toolNames.get(id);
    const wrap = el('div', { class: 'block result' + (b.is_error ? ' error' : '') },
      el('div', { class: 'label' }, '← result of ', el('span', { class: 'tname', text: name || '?' }),
        id ? ' (' + id + ')' : '', b.is_error ? ' — error' : ''));
    const c = has(b.content) ? b.content : b.output;
    renderContent(wrap, c, ctx);
    return wrap;
  }
  function toolUseBlock(name, id, input, ctx) {
    const wrap = el('div', { class: 'block tool_use' },
      el('div', { class: 'label' }, '→ tool call ', el('span', { class: 'tname', text: name || '?' }), id ? ' (' + id + ')' : ''),
      longText(jsonText(input), 'mono'));
    const result = id && ctx.results.get(id);
    if (result) {
      const box = el('div', { class: 'block result-box' });
      box.append(toolResultBlock(result, ctx));
      wrap.append(box);
    } else if (id) {
      wrap.append(el('div', { class: 'label', text: 'no result sent back in the captured calls' }));
    }
    return wrap;
  }
  function renderBlock(parent, b, ctx) {
    if (typeof b === 'string') { parent.append(longText(b)); return; }
    if (!b || typeof b !== 'object') { parent.append(longText(JSON.stringify(b))); return; }
    switch (b.type) {
      case 'text': case 'input_text': case 'output_text':
        parent.append(longText(b.text || ''));
        if (Array.isArray(b.citations) && b.citations.length) parent.append(el('div', { class: 'label', text: b.citations.length + ' citations' }));
        return;
      case 'thinking': case 'redacted_thinking': {
        const d = el('details', { class: 'block thinking' },
          el('summary', { class: 'label', text: b.type === 'thinking' ? 'thinking (' + num((b.thinking || '').length) + ' characters)' : 'redacted thinking' }));
        d.addEventListener('toggle', () => { if (d.open && d.children.length === 1) d.append(longText(b.thinking || b.data || '')); }, { once: false });
        parent.append(d);
        return;
      }
      case 'reasoning': {
        const text = (b.summary || []).map(blockText).join('\n') || (b.content || []).map(blockText).join('\n');
        parent.append(el('div', { class: 'block thinking' }, el('div', { class: 'label', text: 'reasoning' }), longText(text || '(encrypted)')));
        return;
      }
      case 'tool_use': case 'server_tool_use':
        parent.append(toolUseBlock(b.name, b.id, b.input, ctx));
        return;
      case 'function_call':
        parent.append(toolUseBlock(b.name, b.call_id || b.id, b.arguments, ctx));
        return;
      case 'tool_result': case 'function_call_output':
        parent.append(toolResultBlock(b, ctx));
        return;
      case 'image':
        if (b.source && b.source.type === 'base64') {
          parent.append(imageBlock(b.source.media_type, b.source.data, Math.floor((b.source.data || '').length * 3 / 4)));
        } else {
          parent.append(el('div', { class: 'block image label', text: 'image: ' + JSON.stringify(b.source || {}).slice(0, 200) }));
        }
        return;
      case 'image_url': case 'input_image': {
        const url = typeof b.image_url === 'string' ? b.image_url : (b.image_url && b.image_url.url) || '';
        const m = /^data:(image\/[a-z]+);base64,(.*)$/s.exec(url);
        if (m) parent.append(imageBlock(m[1], m[2], Math.floor(m[2].length * 3 / 4)));
        else parent.append(el('div', { class: 'block image label', text: 'image: ' + clip(url, 200) }));
        return;
      }
      case 'message':
        renderContent(parent, b.content, ctx);
        return;
      default:
        if (typeof b.text === 'string') { parent.append(longText(b.text)); return; }
        parent.append(el('div', { class: 'block' }, el('div', { class: 'label', text: b.type || 'block' }), longText(JSON.stringify(b, null, 2), 'mono')));
    }
  }
  function renderContent(parent, c, ctx) {
    if (!has(c)) return;
    if (typeof c === 'string') { parent.append(longText(c)); return; }
    if (Array.isArray(c)) { for (const b of c) renderBlock(parent, b, ctx); return; }
    renderBlock(parent, c, ctx);
  }
  // A whole message (Anthropic, OpenAI chat, or a Responses input item).
  function renderMessage(parent, m, ctx) {
    if (!m || typeof m !== 'object') { parent.append(longText(String(m))); return; }
    if (m.role === 'tool') { parent.append(toolResultBlock(m, ctx)); return; }
    if (m.type && !m.role) { renderBlock(parent, m, ctx); return; }
    renderContent(parent, m.content, ctx);
    if (Array.isArray(m.tool_calls)) {
      for (const t of m.tool_calls) {
        const f = t.function || t;
        parent.append(toolUseBlock(f.name, t.id, f.arguments, ctx));
      }
    }
  }

  // A collapsible turn: a one-line row; its body is built on first open.
  function turn(role, preview, build, extraClass) {
    const t = el('div', { class: 'turn ' + role + (extraClass ? ' ' + extraClass : '') });
    const row = el('div', { class: 'row' }, el('span', { class: 'tw', text: '▸' }), el('span', { class: 'role', text: role }));
    const pv = el('span', { class: 'preview' });
    textInto(pv, clip(preview || '', 240));
    row.append(pv);
    t.append(row);
    let body = null;
    t.toggle = (open) => {
      const want = has(open) ? open : !t.classList.contains('open');
      if (want && !body) { body = el('div', { class: 'body' }); build(body); t.append(body); }
      if (body) body.classList.toggle('hidden', !want);
      t.classList.toggle('open', want);
    };
    row.addEventListener('click', () => t.toggle());
    return t;
  }

  // ---- conversations ----------------------------------------------------
  // Per conversation: tool names and results by tool-use id, from every message
  // sent and every answer, so a tool call shows the result that came back.
  function conversationContext(g) {
    if (g.ctx) return g.ctx;
    const ctx = { toolNames: new Map(), results: new Map() };
    const seen = new Set();
    const visit = (m) => {
      if (!m || typeof m !== 'object') return;
      if (Array.isArray(m)) { m.forEach(visit); return; }
      if ((m.type === 'tool_use' || m.type === 'server_tool_use') && m.id) ctx.toolNames.set(m.id, m.name);
      if (m.type === 'function_call') ctx.toolNames.set(m.call_id || m.id, m.name);
      if (m.type === 'tool_result' && m.tool_use_id) ctx.results.set(m.tool_use_id, m);
      if (m.type === 'function_call_output' && m.call_id) ctx.results.set(m.call_id, m);
      if (m.role === 'tool' && m.tool_call_id) ctx.results.set(m.tool_call_id, m);
      if (Array.isArray(m.tool_calls)) for (const t of m.tool_calls) if (t.id) ctx.toolNames.set(t.id, (t.function || t).name);
      if (Array.isArray(m.content)) m.content.forEach(visit);
      if (Array.isArray(m.output)) m.output.forEach(visit);
    };
    for (const c of g.calls) {
      for (const id of c.msgs) { if (!seen.has(id)) { seen.add(id); visit((blob(id) || {}).json); } }
      visit(parse(c.content));
      if (c.tool_calls) visit((parse(c.tool_calls) || []).map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.input })));
    }
    g.ctx = ctx;
    return ctx;
  }
  // Two sent messages are the same if they differ at most in prompt-cache markers
  // ("cache_control"), which clients move from message to message, or in
  // spelling text content as a string or as text blocks (Claude Code does both).
  const normalCache = new Map();
  function normalized(id) {
    if (!normalCache.has(id)) {
      const strip = (v) => {
        if (Array.isArray(v)) return v.map(strip);
        if (v && typeof v === 'object') {
          const o = {};
          for (const k in v) if (k !== 'cache_control') o[k] = strip(v[k]);
          if (Array.isArray(o.content) && o.content.length &&
              o.content.every((b) => b && b.type === 'text' && Object.keys(b).length === 2)) {
            o.content = o.content.map((b) => b.text).join('');
          }
          return o;
        }
        return v;
      };
      const b = blob(id);
      normalCache.set(id, b && b.json !== null ? JSON.stringify(strip(b.json)) : String(D.blobs[id]));
    }
    return normalCache.get(id);
  }
  function sameMessage(a, b) { return a === b || normalized(a) === normalized(b); }
  // The messages a call sent that the previous call of its conversation did not,
  // minus the echo of the previous answer.
  function newMessages(c) {
    const prev = c.index > 0 ? c.group.calls[c.index - 1] : null;
    let from = 0;
    let note = null;
    if (prev) {
      while (from < prev.msgs.length && from < c.msgs.length && sameMessage(prev.msgs[from], c.msgs[from])) from++;
      if (from < prev.msgs.length) note = 'the history differs from the previous call from message ' + (from + 1) + ' on';
    }
    const out = [];
    // The previous answer comes back first (one message, or several Responses items).
    let echo = prev && !note && !!(prev.content || prev.text || prev.tool_calls);
    for (let i = from; i < c.msgs.length; i++) {
      const m = (blob(c.msgs[i]) || {}).json;
      if (echo && roleOf(m) === 'assistant') continue;
      echo = false;
      out.push({ idx: i, id: c.msgs[i], m: m });
    }
    return { list: out, note: note };
  }
  function answerBlocks(c) {
    const content = parse(c.content);
    if (content) return content;
    const blocks = [];
    if (c.thinking) blocks.push({ type: 'thinking', thinking: c.thinking });
    if (c.text) blocks.push({ type: 'text', text: c.text });
    for (const t of parse(c.tool_calls) || []) blocks.push({ type: 'tool_use', id: t.id, name: t.name, input: t.input });
    return blocks.length ? blocks : null;
  }
  function callHaystack(c) {
    if (c.hay === undefined) {
      const parts = [c.model || '', c.rmodel || '', c.content || '', c.text || '', c.thinking || '', c.tool_calls || '', c.error || ''];
      for (const m of newMessages(c).list) parts.push(D.blobs[m.id] || '');
      if (c.index === 0 && has(c.sys)) parts.push(D.blobs[c.sys] || '');
      c.hay = parts.join('\n').toLowerCase();
    }
    return c.hay;
  }
  function callLine(c) {
    const h = httpById.get(c.req);
    const line = el('div', { class: 'call', id: 'call-' + c.id },
      el('span', { class: 'n', text: 'LLM call ' + (c.index + 1) }),
      el('span', { class: 'model', text: (c.rmodel || c.model || '?') + (c.streamed ? ' · stream' : '') }),
      el('span', { title: 'input tokens' }, 'in ', el('b', { class: 'tin', text: num(c.tin) })),
      el('span', { title: 'output tokens' }, 'out ', el('b', { class: 'tout', text: num(c.tout) })),
      (c.tcr || c.tcw) ? el('span', { title: 'cache read / cache write input tokens' }, 'cache ', el('b', { text: num(c.tcr || 0) + ' / ' + num(c.tcw || 0) })) : null,
      c.treason ? el('span', { title: 'reasoning tokens' }, 'reasoning ', el('b', { text: num(c.treason) })) : null,
      el('span', { title: 'time to first token' }, 'TTFT ', el('b', { class: 'ttft', text: dur(c.ttft) })),
      el('span', { title: 'request start to response end' }, 'took ', el('b', { text: dur(c.dur) })),
      el('span', { title: 'stop reason' }, 'stop ', el('b', { class: 'stop', text: c.stop || '–' })),
      el('span', { title: 'input + output + cache tokens of the session up to this call' }, 'Σ ', el('b', { class: 'running', text: num(c.running) })),
      el('span', { class: 'muted', text: clock(c.start_t) }),
      h ? el('span', { class: 'jump muted', text: 'timeline', title: 'show in the timeline', onclick: () => timeline.reveal('h' + h.id) }) : null);
    if (c.error) line.append(el('span', { class: 'err', text: clip(c.error, 200) }));
    if (!c.complete) line.append(el('span', { class: 'err', text: 'incomplete' }));
    return line;
  }
  function renderCall(parent, c, open) {
    // Tool names and results are looked up only when a body is built.
    const ctx = {
      get toolNames() { return conversationContext(c.group).toolNames; },
      get results() { return conversationContext(c.group).results; }
    };
    const fresh = newMessages(c);
    if (c.index === 0 || (c.index > 0 && c.group.calls[c.index - 1].sys !== c.sys)) {
      // Chat Completions' system prompt is one of the messages: shown there.
      if (has(c.sys) && c.api !== 'chat.completions') {
        const b = blob(c.sys);
        const sysText = b.json !== null && typeof b.json === 'string' ? b.json : b.text;
        parent.append(turn('system', (c.index ? '(changed) ' : '') + (typeof b.json === 'string' ? b.json : contentText(b.json) || b.text),
          (body) => { if (Array.isArray(b.json)) renderContent(body, b.json, ctx); else body.append(longText(sysText)); }));
      }
      if (has(c.tools) && (c.index === 0 || c.group.calls[c.index - 1].tools !== c.tools)) {
        const b = blob(c.tools);
        const list = Array.isArray(b.json) ? b.json : [];
        const names = list.map((t) => t.name || (t.function && t.function.name) || t.type).join(', ');
        parent.append(turn('system', 'tools offered (' + list.length + '): ' + names, (body) => {
          for (const t of list) {
            const f = t.function || t;
            const d = el('details', { class: 'block' }, el('summary', {}, el('span', { class: 'tname', text: f.name || t.type || '?' }), ' ', el('span', { class: 'muted', text: clip(f.description || '', 160) })));
            d.addEventListener('toggle', () => { if (d.open && d.children.length === 1) d.append(longText(JSON.stringify(t, null, 2), 'mono')); });
            body.append(d);
          }
        }));
      }
    }
    if (fresh.note) parent.append(el('div', { class: 'note', text: fresh.note }));
    for (const item of fresh.list) {
      const role = roleOf(item.m);
      const t = turn(role, item.m === null ? D.blobs[item.id] : messagePreview(item.m), (body) => {
        if (item.m === null) body.append(longText(D.blobs[item.id] || ''));
        else renderMessage(body, item.m, ctx);
      });
      parent.append(t);
      if (open) t.toggle(true);
    }
    parent.append(callLine(c));
    const answer = answerBlocks(c);
    if (answer) {
      const preview = Array.isArray(answer) ? contentText(answer) : messagePreview(answer);
      const t = turn('assistant', preview, (body) => {
        if (Array.isArray(answer)) renderContent(body, answer, ctx); else renderMessage(body, answer, ctx);
      }, 'answer');
      t.dataset.call = c.id;
      parent.append(t);
      if (open) t.toggle(true);
    } else if (!c.error) {
      parent.append(el('div', { class: 'note', text: 'no answer captured' }));
    }
  }
  function conversationTitle(g) {
    // llm_calls.opening_prompt of the first call, as v_llm_conversations.first_message:
    // the last user message of the opening turn (Codex sends its AGENTS.md and
    // environment as user messages before the prompt).
    const first = g.calls[0];
    if (first.prompt) return first.prompt;
    return first.msgs.length ? '(no user message)' : '(no messages)';
  }
  function conversationCard(g, open) {
    const sum = (k) => g.calls.reduce((a, c) => a + (c[k] || 0), 0);
    const tools = g.calls.reduce((a, c) => a + (c.tool_names_json || []).length, 0);
    const models = [...new Set(g.calls.map((c) => c.rmodel || c.model).filter((m) => m))].join(', ');
    const card = el('div', { class: 'card conversation', 'data-key': g.key });
    const title = el('span', { class: 'title' });
    textInto(title, clip(conversationTitle(g), 200));
    const head = el('div', { class: 'head' }, el('span', { class: 'tw', text: '▸' }), title,
      el('span', { class: 'muted', text: g.calls.length + (g.calls.length === 1 ? ' call' : ' calls') + ' · ' + models + ' · in ' + num(sum('tin')) +
        ' · out ' + num(sum('tout')) + ' · cache ' + num(sum('tcr')) + '/' + num(sum('tcw')) + ' · ' + tools + ' tool calls · ' + clock(g.calls[0].start_t) }),
      g.real ? el('span', { class: 'muted mono', title: 'conversation key (v_llm_conversations)', text: g.key.slice(0, 12) }) : el('span', { class: 'muted', text: 'no conversation key' }));
    const content = el('div', { class: 'content hidden' });
    card.append(head, content);
    let shown = 0;       // calls rendered
    let matches = null;  // calls matching the search, or null
    const moreBtn = el('button', { class: 'more', onclick: () => renderMore() });
    const list = el('div', { class: 'calls' });
    content.append(list, moreBtn);
    function pool() { return matches || g.calls; }
    function renderMore(upTo) {
      const p = pool();
      const end = Math.min(p.length, Math.max(shown + PAGE, has(upTo) ? upTo + 1 : 0));
      for (; shown < end; shown++) {
        const c = p[shown];
        if (matches) {
          const prev = shown > 0 ? p[shown - 1] : null;
          if (!prev || prev.index !== c.index - 1) list.append(el('div', { class: 'muted', text: '… call ' + (c.index + 1) + ' matches' }));
        }
        renderCall(list, c, !!matches && shown < 20);
      }
      moreBtn.textContent = 'show ' + Math.min(PAGE, p.length - shown) + ' more of ' + (p.length - shown) + ' calls';
      moreBtn.classList.toggle('hidden', shown >= p.length);
    }
    card.toggle = (want) => {
      want = has(want) ? want : !card.classList.contains('open');
      if (want && shown === 0) renderMore();
      content.classList.toggle('hidden', !want);
      card.classList.toggle('open', want);
    };
    card.filter = (q) => {
      list.textContent = '';
      shown = 0;
      matches = q ? g.calls.filter((c) => callHaystack(c).includes(q)) : null;
      card.classList.toggle('hidden', !!matches && matches.length === 0);
      if (card.classList.contains('open') || (matches && matches.length)) { card.toggle(true); renderMore(); }
      return matches ? matches.length : g.calls.length;
    };
    card.reveal = (c) => {
      card.toggle(true);
      const p = pool();
      const at = p.indexOf(c);
      if (at < 0) return null;
      if (at >= shown) renderMore(at);
      return document.getElementById('call-' + c.id);
    };
    head.addEventListener('click', () => card.toggle());
    if (open) card.toggle(true);
    return card;
  }

  // ---- timeline ---------------------------------------------------------
  const timeline = (function () {
    const rows = [];
    const procKey = (cap, pid) => cap + ':' + pid;
    const procs = new Map();
    for (const p of D.processes) if (!procs.has(procKey(p.cap, p.pid))) procs.set(procKey(p.cap, p.pid), { p: p, conns: [], unseen: [] });
    const procFor = (cap, pid) => {
      const k = procKey(cap, pid);
      if (!procs.has(k)) procs.set(k, { p: { cap: cap, pid: pid }, conns: [], unseen: [] });
      return procs.get(k);
    };
    const httpByConn = new Map();
    for (const h of D.http) { if (!httpByConn.has(h.conn)) httpByConn.set(h.conn, []); httpByConn.get(h.conn).push(h); }
    const gapsByConn = new Map();
    for (const g of D.gaps) { if (!gapsByConn.has(g.conn)) gapsByConn.set(g.conn, []); gapsByConn.get(g.conn).push(g); }
    for (const c of D.connections) procFor(c.cap, c.pid).conns.push(c);
    for (const u of D.unseen) procFor(u.cap, u.pid).unseen.push(u);
    let tmin = Infinity, tmax = -Infinity;
    const span = (a, b) => { if (has(a)) { tmin = Math.min(tmin, a); tmax = Math.max(tmax, a); } if (has(b)) { tmin = Math.min(tmin, b); tmax = Math.max(tmax, b); } };
    // Processes in tree order (children under their parent, indented), each
    // followed by its connections.
    const ordered = [];
    {
      const kids = new Map();
      const roots = [];
      for (const e of procs.values()) {
        const parent = has(e.p.ppid) && procs.get(procKey(e.p.cap, e.p.ppid));
        if (parent && parent !== e) {
          if (!kids.has(parent)) kids.set(parent, []);
          kids.get(parent).push(e);
        } else roots.push(e);
      }
      const seen = new Set();
      const visit = (e, depth) => {
        if (seen.has(e)) return;
        seen.add(e);
        e.depth = depth;
        ordered.push(e);
        for (const k of kids.get(e) || []) visit(k, Math.min(depth + 1, 8));
      };
      for (const e of roots) visit(e, 0);
      for (const e of procs.values()) visit(e, 0);  // cycles in hostile data
    }
    for (const { p, conns, unseen, depth } of ordered) {
      if (!conns.length && !unseen.length && !has(p.start_t) && !has(p.end_t)) continue;
      const row = { kind: 'proc', id: 'p' + (p.id || p.pid), p: p, start: p.start_t, end: p.end_t, depth: depth };
      rows.push(row);
      const items = [];
      for (const c of conns) items.push({ t: c.start_t || 0, c: c });
      for (const u of unseen) items.push({ t: u.start_t || 0, u: u });
      items.sort((a, b) => a.t - b.t);
      let first = Infinity, last = -Infinity;
      for (const it of items) {
        if (it.c) {
          const c = it.c;
          rows.push({ kind: 'conn', id: 'c' + c.id, c: c, start: c.start_t, end: c.end_t, gaps: gapsByConn.get(c.id) || [] });
          span(c.start_t, c.end_t);
          first = Math.min(first, c.start_t ?? Infinity); last = Math.max(last, c.end_t ?? -Infinity);
          for (const h of httpByConn.get(c.id) || []) {
            rows.push({ kind: 'http', id: 'h' + h.id, h: h, llm: llmByReq.get(h.id), start: h.start_t, end: h.end_t ?? h.req_end_t });
            span(h.start_t, h.end_t);
          }
        } else {
          const u = it.u;
          rows.push({ kind: 'unseen', id: 'u' + u.id, u: u, start: u.start_t, end: u.end_t });
          span(u.start_t, u.end_t);
          first = Math.min(first, u.start_t ?? Infinity); last = Math.max(last, u.end_t ?? -Infinity);
        }
      }
      if (!has(row.start) && first !== Infinity) row.start = first;
      if (!has(row.end) && last !== -Infinity) row.end = last;
      span(row.start, row.end);
    }
    // Warnings (not informational notes) are marked where they happened.
    const notes = D.notes.map((n, i) => ({ time_t: n.time_t, i: i, w: isWarning(n) })).filter((n) => has(n.time_t) && n.w);
    // The window is the traced activity and the warnings; the capture's own span
    // only without any.
    for (const n of notes) span(n.time_t, null);
    if (tmin === Infinity) for (const c of D.captures) span(c.start_t, c.end_t);
    if (tmin === Infinity) { tmin = 0; tmax = 1; }
    if (tmax <= tmin) tmax = tmin + 1e6;
    let v0 = tmin, v1 = tmax;
    let scroll, inner, body, axis, tip, width = 800;
    let drawn = [-1, -1];
    let highlight = null;

    function x(t) { return LABEL_W + (t - v0) / (v1 - v0) * (width - LABEL_W - 10); }
    function rowLabel(r) {
      if (r.kind === 'proc') return ' '.repeat(2 * (r.depth || 0)) + 'pid ' + r.p.pid + ' ' + clip((r.p.exe || '').replace(/^.*\//, ''), 40);
      if (r.kind === 'conn') {
        const c = r.c;
        const where = c.host ? c.host + (c.host.includes(':') || !c.port || c.port === 443 ? '' : ':' + c.port) : (c.addr || '?') + ':' + c.port;
        return '  ' + where + ' ' + c.protocol;
      }
      if (r.kind === 'unseen') return '  unseen ' + (r.u.addr || '?') + ':' + r.u.port;
      const h = r.h;
      return '    ' + h.method + ' ' + clip(h.target, 36) + (has(h.status) ? ' ' + h.status : '');
    }
    function details(r) {
      const lines = [];
      if (r.kind === 'proc') {
        lines.push('process ' + r.p.pid + (has(r.p.ppid) ? ' (parent ' + r.p.ppid + ')' : ''), r.p.exe || '', clip(r.p.cmdline || '', 300));
        lines.push('from ' + clock(r.start) + ' to ' + clock(r.end) + (has(r.p.exit_status) ? ', exit status ' + r.p.exit_status : ''));
      } else if (r.kind === 'conn') {
        const c = r.c;
        lines.push('connection ' + (c.host || '') + ' ' + (c.addr || '') + ':' + (c.port || ''), c.protocol + ', TLS library ' + (c.tls || '?') + ', ' + (c.comm || ''));
        lines.push(clock(c.start_t) + ' → ' + clock(c.end_t) + ' (' + dur(has(c.end_t) && has(c.start_t) ? c.end_t - c.start_t : null) + ')' + (c.closed ? '' : ', not closed'));
        lines.push('sent ' + bytes(c.sent) + ', received ' + bytes(c.recv));
        if (c.gaps) lines.push('GAPS: ' + c.gaps + ' (' + bytes(c.gap_bytes) + ' missing)');
        if (c.undecoded) lines.push('undecoded: ' + bytes(c.undecoded));
      } else if (r.kind === 'unseen') {
        const u = r.u;
        lines.push('UNSEEN TCP connection (no TLS probe read it)', (u.origin || '') + ' ' + (u.addr || '') + ':' + u.port + ' by pid ' + u.pid + ' ' + (u.exe || ''));
        lines.push(clock(u.start_t) + ' → ' + clock(u.end_t) + ', ' + (u.end_reason || ''), 'sent ' + bytes(u.sent) + ', received ' + bytes(u.recv));
      } else {
        const h = r.h, c = r.llm;
        lines.push(h.method + ' ' + (h.host || '') + h.target + ' ' + (h.ver || ''));
        lines.push('status ' + (has(h.status) ? h.status + ' ' + (h.reason || '') : 'no response'));
        lines.push('request ' + clock(h.start_t) + ', sent in ' + dur(has(h.req_end_t) ? h.req_end_t - h.start_t : null) + ', ' + bytes(h.req_size) + (h.req_type ? ' ' + h.req_type : ''));
        if (has(h.resp_start_t)) lines.push('response after ' + dur(h.resp_start_t - h.start_t) + ', ' + bytes(h.resp_size) + (h.resp_type ? ' ' + h.resp_type : ''));
        if (h.sse) lines.push('SSE: ' + h.sse + ' events, ' + clock(h.sse_first_t) + ' → ' + clock(h.sse_last_t));
        if (has(h.end_t)) lines.push('total ' + dur(h.end_t - h.start_t));
        if (!h.req_complete || (has(h.resp) && !h.resp_complete)) lines.push('INCOMPLETE' + (h.req_gap || h.resp_gap ? ' (' + bytes((h.req_gap || 0) + (h.resp_gap || 0)) + ' missing)' : ''));
        if (h.req_error || h.resp_error) lines.push('decode: ' + (h.req_error || h.resp_error));
        if (c) {
          lines.push('', 'LLM call: ' + (c.rmodel || c.model) + ', stop ' + (c.stop || '–'));
          lines.push('tokens in ' + num(c.tin) + ', out ' + num(c.tout) + ', cache read ' + num(c.tcr) + ', cache write ' + num(c.tcw));
          lines.push('TTFT ' + dur(c.ttft) + ', duration ' + dur(c.dur));
          if ((c.tool_names_json || []).length) lines.push('tool calls: ' + c.tool_names_json.join(', '));
          lines.push('(click to open the call)');
        }
      }
      return lines.filter((l) => l !== undefined && l !== null).join('\n');
    }
    function bar(g, cls, a, b, y, h, i) {
      if (!has(a)) return;
      if (!has(b) || b < a) b = a;
      const xa = Math.max(LABEL_W, x(a)), xb = Math.min(width, x(b));
      if (xb < LABEL_W || xa > width) return;
      g.append(svg('rect', { class: 'tl-bar ' + cls, x: xa.toFixed(1), y: y, width: Math.max(1.5, xb - xa).toFixed(1), height: h, 'data-i': i }));
    }
    function draw() {
      if (!scroll) return;
      const top = scroll.scrollTop, hgt = scroll.clientHeight;
      const a = Math.max(0, Math.floor(top / ROW_H) - 10), b = Math.min(rows.length, Math.ceil((top + hgt) / ROW_H) + 10);
      drawn = [a, b];
      body.textContent = '';
      body.setAttribute('width', width);
      body.setAttribute('height', (b - a) * ROW_H);
      body.style.top = a * ROW_H + 'px';
      for (let i = a; i < b; i++) {
        const r = rows[i];
        const y = (i - a) * ROW_H;
        const g = svg('g', { class: 'tl-row ' + r.kind, 'data-i': i, 'data-id': r.id });
        g.append(svg('rect', { class: 'tl-hover', x: 0, y: y, width: width, height: ROW_H, fill: highlight === r.id ? 'rgba(255,200,0,.25)' : 'transparent', 'data-i': i }));
        const label = svg('text', { class: 'tl-label ' + r.kind, x: 4, y: y + 14, 'data-i': i });
        label.textContent = rowLabel(r);
        g.append(label);
        if (r.kind === 'proc') bar(g, 'proc', r.start, r.end, y + 4, 12, i);
        else if (r.kind === 'conn') {
          bar(g, 'conn' + (r.c.gaps ? ' bad' : ''), r.start, r.end, y + 5, 10, i);
          for (const gp of r.gaps) if (has(gp.time_t)) { const gx = x(gp.time_t); if (gx >= LABEL_W) g.append(svg('rect', { class: 'tl-gap', x: gx - 1.5, y: y + 2, width: 3, height: 16, 'data-i': i })); }
        } else if (r.kind === 'unseen') bar(g, 'unseen', r.start, r.end, y + 5, 10, i);
        else {
          const h = r.h;
          const bad = !h.req_complete || (has(h.resp) && !h.resp_complete) ? ' bad' : '';
          const llm = r.llm ? ' llm' : '';
          bar(g, 'req' + llm + bad, h.start_t, h.req_end_t, y + 4, 12, i);
          bar(g, 'wait' + llm, h.req_end_t ?? h.start_t, h.resp_start_t, y + 4, 12, i);
          if (h.sse) {
            bar(g, 'resp' + llm + bad, h.resp_start_t, h.sse_first_t, y + 4, 12, i);
            bar(g, 'sse' + llm + bad, h.sse_first_t ?? h.resp_start_t, h.end_t, y + 4, 12, i);
          } else bar(g, 'resp' + llm + bad, h.resp_start_t, h.end_t, y + 4, 12, i);
          if (r.llm && has(r.llm.first_t)) {
            const tx = x(r.llm.first_t);
            if (tx >= LABEL_W) g.append(svg('line', { class: 'tl-ttft', x1: tx, x2: tx, y1: y + 1, y2: y + 19, 'data-i': i }));
          }
        }
        body.append(g);
      }
      for (const n of notes) {
        const nx = x(n.time_t);
        if (nx < LABEL_W || nx > width) continue;
        const line = svg('line', { class: 'tl-note', x1: nx, x2: nx, y1: 0, y2: (b - a) * ROW_H, 'data-note': n.i });
        body.append(line);
      }
      drawAxis();
    }
    function drawAxis() {
      axis.textContent = '';
      axis.setAttribute('width', width);
      const spanNs = v1 - v0;
      const target = spanNs / Math.max(2, (width - LABEL_W) / 110);
      const steps = [1e3, 1e4, 1e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9, 2e9, 5e9, 1e10, 3e10, 6e10, 1.2e11, 3e11, 6e11, 1.8e12, 3.6e12];
      let step = steps.find((s) => s >= target);
      if (!step) { step = 3.6e12; while (step < target) step *= 10; }
      const t0 = tmin;
      let n = 0;
      for (let t = Math.ceil((v0 - t0) / step) * step + t0; t <= v1 && n < 100; t += step, n++) {
        const tx = x(t);
        axis.append(svg('line', { x1: tx, x2: tx, y1: 16, y2: 22, stroke: 'currentColor', 'stroke-opacity': 0.4 }));
        if (tx + 70 > width) continue;  // no label cut at the edge
        const text = svg('text', { x: tx + 2, y: 13 });
        text.textContent = '+' + tick(t - t0, step);
        axis.append(text);
      }
      const lbl = svg('text', { x: 4, y: 13 });
      lbl.textContent = clock(v0) + ' UTC, window ' + dur(v1 - v0);
      axis.append(lbl);
      for (const n of notes) {
        const nx = x(n.time_t);
        if (nx < LABEL_W || nx > width) continue;
        const m = svg('path', { d: 'M' + (nx - 5) + ',16 L' + (nx + 5) + ',16 L' + nx + ',22 Z', fill: 'var(--warn)', 'data-note': n.i, class: 'tl-note-mark' });
        axis.append(m);
      }
    }
    function tick(ns, step) {
      if (step < 1e6) return (ns / 1e6).toFixed(step < 1e5 ? 2 : 1) + ' ms';
      if (step < 1e9) return Math.round(ns / 1e6) + ' ms';
      const s = ns / 1e9;
      if (s < 60) return (step < 1e10 ? s.toFixed(step < 1e9 ? 1 : 0) : Math.round(s)) + ' s';
      const m = Math.floor(s / 60);
      return m + ':' + String(Math.round(s - m * 60)).padStart(2, '0') + ' min';
    }
    function zoom(f, at) {
      const c = has(at) ? at : (v0 + v1) / 2;
      let nv0 = c - (c - v0) * f, nv1 = c + (v1 - c) * f;
      if (nv1 - nv0 > tmax - tmin) { nv0 = tmin; nv1 = tmax; }
      if (nv1 - nv0 < 1e4) return;
      v0 = nv0; v1 = nv1;
      draw();
    }
    function tAt(px) { return v0 + (px - LABEL_W) / (width - LABEL_W - 10) * (v1 - v0); }
    function mount(parent) {
      const wrap = el('div', { class: 'timeline' });
      const controls = el('div', { class: 'tl-controls' },
        el('button', { text: '−', title: 'zoom out', onclick: () => zoom(2) }),
        el('button', { text: '+', title: 'zoom in', onclick: () => zoom(0.5) }),
        el('button', { text: 'fit', onclick: () => { v0 = tmin; v1 = tmax; draw(); } }),
        el('span', { class: 'muted', text: rows.length + ' rows · ctrl+wheel zooms, drag pans' }),
        el('span', { class: 'tl-legend' },
          el('span', {}, el('i', { style: 'background:var(--req)' }), 'request sent'),
          el('span', {}, el('i', { style: 'background:var(--wait)' }), 'waiting'),
          el('span', {}, el('i', { style: 'background:var(--resp)' }), 'response'),
          el('span', {}, el('i', { style: 'background:var(--sse)' }), 'SSE stream'),
          el('span', {}, el('i', { style: 'background:var(--err);width:3px' }), 'TTFT / gap'),
          el('span', {}, el('i', { style: 'background:var(--unseen)' }), 'unseen TCP'),
          el('span', {}, el('i', { style: 'background:var(--warn);width:3px' }), 'warning')));
      axis = svg('svg', { class: 'tl-axis', height: 24 });
      scroll = el('div', { class: 'tl-scroll' });
      scroll.style.height = Math.min(rows.length * ROW_H + 2, Math.max(200, Math.floor(window.innerHeight * 0.55))) + 'px';
      inner = el('div', {});
      inner.style.height = rows.length * ROW_H + 'px';
      body = svg('svg', {});
      scroll.append(inner, body);
      tip = el('div', { class: 'tooltip hidden' });
      wrap.append(controls, axis, scroll, tip);
      parent.append(wrap);
      width = Math.max(600, scroll.clientWidth || 800);
      let pending = false;
      scroll.addEventListener('scroll', () => {
        const top = scroll.scrollTop;
        if (pending) return;
        if (Math.floor(top / ROW_H) - 5 >= drawn[0] && Math.ceil((top + scroll.clientHeight) / ROW_H) + 5 <= drawn[1]) return;
        pending = true;
        requestAnimationFrame(() => { pending = false; draw(); });
      });
      window.addEventListener('resize', () => { width = Math.max(600, scroll.clientWidth || 800); draw(); });
      const hover = (ev) => {
        const t = ev.target;
        let text = null;
        if (t.dataset && has(t.dataset.note)) { const n = D.notes[+t.dataset.note]; text = n.level + ' at ' + clock(n.time_t) + ' (' + n.source + ')\n' + n.message; }
        else if (t.dataset && has(t.dataset.i)) text = details(rows[+t.dataset.i]);
        if (!text) { tip.classList.add('hidden'); return; }
        tip.textContent = text;
        tip.classList.remove('hidden');
        const w = tip.offsetWidth, h = tip.offsetHeight;
        tip.style.left = Math.min(window.innerWidth - w - 8, ev.clientX + 14) + 'px';
        tip.style.top = (ev.clientY + 16 + h > window.innerHeight ? ev.clientY - h - 8 : ev.clientY + 16) + 'px';
      };
      body.addEventListener('mousemove', hover);
      axis.addEventListener('mousemove', hover);
      body.addEventListener('mouseleave', () => tip.classList.add('hidden'));
      axis.addEventListener('mouseleave', () => tip.classList.add('hidden'));
      let drag = null;
      body.addEventListener('mousedown', (ev) => { drag = { x: ev.clientX, v0: v0, v1: v1, moved: false }; });
      window.addEventListener('mousemove', (ev) => {
        if (!drag) return;
        const dx = ev.clientX - drag.x;
        if (Math.abs(dx) > 3) drag.moved = true;
        if (!drag.moved) return;
        const dt = dx / (width - LABEL_W - 10) * (drag.v1 - drag.v0);
        v0 = drag.v0 - dt; v1 = drag.v1 - dt;
        draw();
      });
      window.addEventListener('mouseup', () => { setTimeout(() => { drag = null; }, 0); });
      body.addEventListener('click', (ev) => {
        if (drag && drag.moved) return;
        const i = ev.target.dataset && ev.target.dataset.i;
        if (!has(i)) return;
        const r = rows[+i];
        if (r && r.llm) revealCall(r.llm);
      });
      scroll.addEventListener('wheel', (ev) => {
        if (!ev.ctrlKey) return;
        ev.preventDefault();
        const rect = scroll.getBoundingClientRect();
        const px = ev.clientX - rect.left;
        zoom(ev.deltaY > 0 ? 1.25 : 0.8, px > LABEL_W ? tAt(px) : undefined);
      }, { passive: false });
      draw();
    }
    function reveal(id) {
      const i = rows.findIndex((r) => r.id === id);
      if (i < 0) return;
      highlight = id;
      const r = rows[i];
      if (has(r.start) && (r.start < v0 || (r.end ?? r.start) > v1)) { v0 = tmin; v1 = tmax; }
      scroll.scrollTop = Math.max(0, i * ROW_H - scroll.clientHeight / 2);
      draw();
      scroll.scrollIntoView({ block: 'center' });
    }
    return { mount: mount, reveal: reveal, rows: rows };
  })();

  // ---- page -------------------------------------------------------------
  const cards = [];
  function revealCall(c) {
    const card = cards.find((k) => k.dataset.key === c.group.key);
    if (!card) return;
    if (card.classList.contains('hidden')) { setQuery(''); }
    const line = card.reveal(c);
    if (!line) return;
    const answer = line.nextElementSibling;
    if (answer && answer.toggle) answer.toggle(true);
    line.scrollIntoView({ block: 'start' });
  }
  let searchBox, searchInfo, httpSection;
  function setQuery(q) {
    query = q.trim().toLowerCase();
    if (searchBox.value.trim().toLowerCase() !== query) searchBox.value = q;
    let n = 0;
    for (const card of cards) n += card.filter(query);
    if (httpSection) httpSection.filter(query);
    searchInfo.textContent = query ? n + ' matching calls' : '';
  }

  function isWarning(n) { return n.level !== 'info' && n.level !== 'debug'; }
  function section(id, title, ...kids) {
    return el('section', { id: id }, el('h2', { text: title }), ...kids);
  }
  function pagedTable(head, items, rowOf, pageSize) {
    const tbody = el('tbody');
    const ths = head.map((h) => el('th', { class: h.num ? 'num' : null, text: h.t, title: h.sort ? 'sort' : null }));
    const table = el('table', {}, el('thead', {}, el('tr', {}, ...ths)), tbody);
    const more = el('button', { class: 'more' });
    let list = items, shown = 0;
    function page() {
      const end = Math.min(list.length, shown + pageSize);
      for (; shown < end; shown++) tbody.append(rowOf(list[shown]));
      more.textContent = 'show ' + Math.min(pageSize, list.length - shown) + ' more of ' + (list.length - shown);
      more.classList.toggle('hidden', shown >= list.length);
    }
    more.addEventListener('click', page);
    page();
    const wrap = el('div', {}, table, more);
    wrap.setItems = (l) => { list = l; shown = 0; tbody.textContent = ''; page(); };
    // Columns with a `sort` key sort on click (again: the other way).
    head.forEach((h, i) => {
      if (!h.sort) return;
      ths[i].style.cursor = 'pointer';
      let down = true;
      ths[i].addEventListener('click', () => {
        const key = h.sort;
        const v = (x) => { const y = key(x); return has(y) ? y : -Infinity; };
        wrap.setItems([...list].sort((a, b) => (down ? v(b) - v(a) : v(a) - v(b))));
        for (const t of ths) t.textContent = t.textContent.replace(/ [▼▲]$/, '');
        ths[i].textContent += down ? ' ▼' : ' ▲';
        down = !down;
      });
    });
    return wrap;
  }
  // Every LLM call in one table (built when opened), sortable by its figures.
  function callsSection() {
    if (!D.llm.length) return null;
    const d = el('details', { class: 'calls-table' }, el('summary', { text: 'All ' + D.llm.length + ' LLM calls as a table (click a column to sort, a row to open the call)' }));
    d.addEventListener('toggle', () => {
      if (!d.open || d.children.length > 1) return;
      d.append(pagedTable([
        { t: '#', num: 1 }, { t: 'time' }, { t: 'conversation' }, { t: 'model' },
        { t: 'in', num: 1, sort: (c) => c.tin }, { t: 'out', num: 1, sort: (c) => c.tout },
        { t: 'cache read', num: 1, sort: (c) => c.tcr }, { t: 'cache write', num: 1, sort: (c) => c.tcw },
        { t: 'TTFT', num: 1, sort: (c) => c.ttft }, { t: 'took', num: 1, sort: (c) => c.dur },
        { t: 'stop' }, { t: 'tools' }, { t: 'Σ tokens', num: 1, sort: (c) => c.running }], D.llm, (c) => {
        const tr = el('tr', { class: 'llm-row', style: 'cursor:pointer' }, td(c.seq, 'num'), td(clock(c.start_t), 'mono'),
          td(c.group.real ? c.group.key.slice(0, 8) + ' #' + (c.index + 1) : '–', 'mono'), td(c.rmodel || c.model),
          td(num(c.tin), 'num'), td(num(c.tout), 'num'), td(num(c.tcr), 'num'), td(num(c.tcw), 'num'),
          td(dur(c.ttft), 'num'), td(dur(c.dur), 'num'), td(c.error ? 'error' : c.stop), td((c.tool_names_json || []).join(', ')), td(num(c.running), 'num'));
        tr.addEventListener('click', () => revealCall(c));
        return tr;
      }, 100));
    });
    return section('calls', 'LLM calls', d);
  }
  function td(text, cls) { return el('td', { class: cls, text: has(text) ? String(text) : '–' }); }

  function issuesSection() {
    const parts = [];
    for (const c of D.captures) {
      const bad = [];
      if (!c.ended_cleanly) bad.push('the capture did not end cleanly' + (c.truncated_tail ? ' (truncated tail)' : ''));
      if (c.lost_events) bad.push(num(c.lost_events) + ' events lost in the recorder (' + bytes(c.lost_bytes) + ')');
      if (c.malformed_events) bad.push(num(c.malformed_events) + ' malformed events');
      if (c.bad_frames || c.missing_frames) bad.push((c.bad_frames || 0) + ' damaged and ' + (c.missing_frames || 0) + ' missing frames (' + bytes(c.skipped_file_bytes) + ' skipped)');
      for (const b of bad) parts.push(el('div', { class: 'note', text: (D.captures.length > 1 ? c.uuid + ': ' : '') + b }));
    }
    const noteTable = (list) => pagedTable([{ t: 'time' }, { t: 'level' }, { t: 'source' }, { t: 'message' }], list, (n) =>
      el('tr', { class: 'note-row' }, td(clock(n.time_t), 'mono'), td(n.level, 'lvl-' + n.level), td(n.source), td(n.message)), 20);
    const serious = D.notes.filter(isWarning);
    const info = D.notes.filter((n) => !isWarning(n));
    if (serious.length) {
      parts.push(el('h3', { text: 'Warnings (' + serious.length + ')' }));
      parts.push(noteTable(serious));
    }
    if (info.length) {
      const d = el('details', {}, el('summary', { class: 'muted', text: info.length + ' informational notes' }));
      d.addEventListener('toggle', () => { if (d.open && d.children.length === 1) d.append(noteTable(info)); });
      parts.push(d);
    }
    if (D.gaps.length) {
      parts.push(el('h3', { text: 'Gaps: bytes that flowed but are not in the capture (' + D.gaps.length + ')' }));
      parts.push(pagedTable([{ t: 'time' }, { t: 'connection' }, { t: 'direction' }, { t: 'bytes', num: 1 }, { t: 'at stream byte', num: 1 }, { t: 'reason' }], D.gaps, (g) => {
        const c = connById.get(g.conn) || {};
        return el('tr', { class: 'gap-row' }, td(clock(g.time_t), 'mono'), td((c.host || c.addr || '?') + ' (pid ' + c.pid + ')'), td(g.dir), td(num(g.len), 'num'), td(num(g.pos), 'num'), td(g.reason));
      }, 20));
    }
    if (D.unseen.length) {
      parts.push(el('h3', { text: 'Unseen TCP connections: no TLS probe read them (' + D.unseen.length + ')' }));
      parts.push(pagedTable([{ t: 'opened' }, { t: 'pid' }, { t: 'program' }, { t: 'peer' }, { t: 'sent', num: 1 }, { t: 'received', num: 1 }, { t: 'end' }], D.unseen, (u) =>
        el('tr', { class: 'unseen-row' }, td(clock(u.start_t), 'mono'), td(u.pid), td(u.exe), td((u.origin === 'accept' ? 'from ' : '') + (u.family === 'ipv6' ? '[' + u.addr + ']' : u.addr) + ':' + u.port),
          td(bytes(u.sent), 'num'), td(bytes(u.recv), 'num'), td(u.end_reason)), 20));
    }
    if (D.damage.length) {
      parts.push(el('h3', { text: 'Damaged capture file regions (' + D.damage.length + ')' }));
      parts.push(pagedTable([{ t: 'file offset', num: 1 }, { t: 'bytes', num: 1 }, { t: 'what' }], D.damage, (d) => el('tr', {}, td(num(d.off), 'num'), td(num(d.len), 'num'), td(d.what)), 20));
    }
    const incomplete = D.http.filter((h) => !h.req_complete || (has(h.resp) && !h.resp_complete) || !has(h.resp));
    if (incomplete.length) parts.push(el('div', { class: 'note', text: incomplete.length + ' HTTP exchanges are incomplete or have no response (outlined red in the timeline)' }));
    if (!parts.length) return null;
    return section('issues', 'Losses, gaps, unseen traffic and warnings', ...parts);
  }

  function httpTable() {
    const others = D.http.filter((h) => !llmByReq.has(h.id));
    if (!others.length) return null;
    const table = pagedTable([{ t: 'time' }, { t: 'method' }, { t: 'host' }, { t: 'target' }, { t: 'status' }, { t: 'type' }, { t: 'sent', num: 1 }, { t: 'received', num: 1 }, { t: 'took', num: 1 }], others, (h) => {
      const tr = el('tr', { class: 'http-row' }, td(clock(h.start_t), 'mono'), td(h.method), td(h.host), el('td', { class: 'mono' }), td(h.status), td(h.resp_type || h.req_type),
        td(bytes(h.req_size), 'num'), td(bytes(h.resp_size), 'num'), td(has(h.end_t) ? dur(h.end_t - h.start_t) : '–', 'num'));
      const target = tr.children[3];
      textInto(target, clip(h.target, 140));
      target.append(' ', el('span', { class: 'jump muted', text: '⌖', title: 'show in the timeline', style: 'cursor:pointer', onclick: () => timeline.reveal('h' + h.id) }));
      tr.addEventListener('dblclick', () => {
        const next = tr.nextElementSibling;
        if (next && next.classList.contains('headers')) { next.remove(); return; }
        const cell = el('td', { colspan: 9 });
        for (const [label, text] of [['request headers', h.req_headers], ['response headers', h.resp_headers]]) {
          const list = parse(text) || [];
          cell.append(el('div', { class: 'label muted', text: label }), longText(list.map((p) => p[0] + ': ' + p[1]).join('\n'), 'mono'));
        }
        tr.after(el('tr', { class: 'headers' }, cell));
      });
      return tr;
    }, 100);
    const s = section('http', 'Other HTTP exchanges (' + others.length + ')', el('div', { class: 'muted', text: 'Double-click a row for its headers (secret values are fingerprints, as in the database).' }), table);
    s.filter = (q) => table.setItems(q ? others.filter((h) => (h.method + ' ' + (h.host || '') + h.target + ' ' + (h.status || '')).toLowerCase().includes(q)) : others);
    return s;
  }

  function render() {
    const app = document.getElementById('app');
    app.textContent = '';
    const c0 = D.captures[0] || {};
    app.append(el('h1', { text: 'ct report' + (c0.target ? ': ' + clip(c0.target, 160) : '') }));
    for (const c of D.captures) {
      app.append(el('div', { class: 'capline' }, 'capture ', el('span', { class: 'mono', text: c.uuid }), ' · ' + (c.file || '') + ' · host ' + (c.hostname || '?') + ' · ' +
        dateTime(c.start_t) + ' · ' + dur(has(c.end_t) && has(c.start_t) ? c.end_t - c.start_t : null) + ' · ' + num(c.events) + ' events · ' +
        (c.ended_cleanly ? 'ended cleanly' + (c.end_reason ? ' (' + c.end_reason + ')' : '') : 'did NOT end cleanly')));
    }
    if (D.meta.conversation) app.append(el('div', { class: 'capline', text: 'only conversation ' + D.meta.conversation }));
    const realConvs = conversations.filter((g) => g.real).length;
    const warnings = D.notes.filter((n) => n.level === 'warning' || n.level === 'error').length;
    const lost = D.captures.reduce((a, c) => a + (c.lost_events || 0), 0);
    const chips = el('div', { class: 'chips' },
      el('span', { class: 'chip' }, el('b', { text: num(D.llm.length) }), ' LLM calls'),
      el('span', { class: 'chip' }, el('b', { text: num(realConvs) }), ' conversations'),
      el('span', { class: 'chip' }, 'in ', el('b', { text: num(totals.tin) }), ' · out ', el('b', { text: num(totals.tout) }), ' · cache read ', el('b', { text: num(totals.tcr) }), ' · cache write ', el('b', { text: num(totals.tcw) }), ' tokens'),
      el('span', { class: 'chip' }, el('b', { text: num(D.http.length) }), ' HTTP exchanges'),
      el('span', { class: 'chip' }, el('b', { text: num(D.connections.length) }), ' TLS connections'),
      el('span', { class: 'chip' }, el('b', { text: num(D.processes.length) }), ' processes'));
    const toIssues = () => { const s = document.getElementById('issues'); if (s) s.scrollIntoView(); };
    if (lost) chips.append(el('span', { class: 'chip bad', onclick: toIssues }, el('b', { text: num(lost) }), ' lost events'));
    if (D.gaps.length) chips.append(el('span', { class: 'chip bad', onclick: toIssues }, el('b', { text: num(D.gaps.length) }), ' gaps'));
    if (D.unseen.length) chips.append(el('span', { class: 'chip bad', onclick: toIssues }, el('b', { text: num(D.unseen.length) }), ' unseen connections'));
    if (warnings) chips.append(el('span', { class: 'chip bad', onclick: toIssues }, el('b', { text: num(warnings) }), ' warnings'));
    app.append(chips);

    searchBox = el('input', { type: 'search', placeholder: 'Search messages, answers, tool calls, URLs…', 'aria-label': 'search' });
    searchInfo = el('span', { class: 'muted' });
    let timer = null;
    searchBox.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => setQuery(searchBox.value), 200); });
    app.append(el('div', { class: 'toolbar' }, searchBox, searchInfo,
      el('button', { text: 'collapse all', onclick: () => { for (const k of cards) k.toggle(false); } }),
      el('span', { class: 'muted', text: D.meta.generator })));

    const issues = issuesSection();
    if (issues) app.append(issues);
    const tl = section('timeline', 'Timeline');
    app.append(tl);
    timeline.mount(tl);

    const convs = section('conversations', 'Conversations');
    if (!conversations.length) convs.append(el('div', { class: 'muted', text: 'No LLM calls in this capture.' }));
    // The conversation with the most calls starts open; the others collapsed.
    let main = null;
    for (const g of conversations) if (!main || g.calls.length > main.calls.length) main = g;
    for (const g of conversations) {
      const card = conversationCard(g, g === main);
      cards.push(card);
      convs.append(card);
    }
    app.append(convs);
    const calls = callsSection();
    if (calls) app.append(calls);
    httpSection = httpTable();
    if (httpSection) app.append(httpSection);
  }

  render();
  // For tests and the curious: what the page holds, and when it was ready.
  window.ctReport = {
    ready: true, readyAt: performance.now(), calls: D.llm.length, rows: timeline.rows.length,
    lastCallId: D.llm.length ? D.llm[D.llm.length - 1].id : null,
    setQuery: setQuery, revealCall: (id) => revealCall(llmById.get(id))
  };
})();
