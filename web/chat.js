// The watch page's chat panel: messages, reactions (bursts over the video),
// polls, moderator controls, login and registration. Talks to chatd over
// WebSocket and to billingd for accounts (URLs from /channels/{channel}).
// Every string from users is set with textContent, never as HTML.
(function () {
  'use strict';
  const parts = location.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'watch') return;
  const channel = decodeURIComponent(parts[1] || '');
  const $ = function (id) { return document.getElementById(id); };
  const panel = $('chat');
  if (!panel) return;
  panel.hidden = false;

  // What tests (and curious users) can read.
  const state = (window.stageChat = {
    connected: false, user: null, role: null, viewers: null, received: 0,
    bursts: 0, errors: [], poll: null, settings: null, closes: [],
    // [body, Date.now()] of messages sent and received (the newest 100).
    sentLog: [], gotLog: [],
  });
  function note(log, body) {
    log.push([body, Date.now()]);
    if (log.length > 100) log.shift();
  }
  const TOKEN_KEY = 'stage.token';
  let token = localStorage.getItem(TOKEN_KEY);
  let chatUrl = null;
  let authUrl = null;
  let ws = null;
  let retry = 500;

  const list = $('messages');
  const input = $('chatinput');
  const err = $('chaterr');

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function canModerate() { return state.role === 'moderator' || state.role === 'owner'; }

  function addMessage(m) {
    const li = el('li', 'msg');
    li.dataset.id = m.id;
    const time = new Date(m.at);
    li.appendChild(el('span', 'time', time.toTimeString().slice(0, 5)));
    if (m.role === 'member') {
      const star = el('span', 'memberbadge', '★');
      star.title = 'Member';
      li.appendChild(star);
    }
    const who = el('span', 'user role-' + m.role, m.user);
    li.appendChild(who);
    // A paid tip: highlighted, with its amount.
    if (m.tip) {
      li.classList.add('tip');
      li.appendChild(el('span', 'amount', m.tip.display));
    }
    // <bdi> keeps any remaining direction tricks inside the message.
    const body = el('bdi', 'body', m.body);
    li.appendChild(body);
    if (canModerate() && m.user !== state.user) {
      const tools = el('span', 'tools');
      const del = el('button', 'del', '✕');
      del.title = 'Delete message';
      del.addEventListener('click', function () { send({ type: 'delete', id: m.id }); });
      const to = el('button', 'to', '⏱');
      to.title = 'Time out 10 minutes';
      to.addEventListener('click', function () { send({ type: 'timeout', user: m.user, seconds: 600 }); });
      const ban = el('button', 'ban', '⛔');
      ban.title = 'Ban from this chat';
      ban.addEventListener('click', function () { send({ type: 'ban', user: m.user }); });
      if (m.role !== 'guest') { tools.appendChild(to); tools.appendChild(ban); }
      tools.prepend(del);
      li.appendChild(tools);
    }
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.appendChild(li);
    while (list.children.length > 200) list.removeChild(list.firstChild);
    if (atBottom) list.scrollTop = list.scrollHeight;
    state.received += 1;
    note(state.gotLog, m.body);
  }

  function systemLine(text) {
    const li = el('li', 'msg system', text);
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  function burst(emoji, n) {
    const layer = $('bursts');
    for (let i = 0; i < Math.min(n, 12); i++) {
      const b = el('span', 'burst', emoji);
      b.style.left = (10 + Math.random() * 80) + '%';
      b.style.animationDelay = (i * 80) + 'ms';
      b.addEventListener('animationend', function () { b.remove(); });
      layer.appendChild(b);
      state.bursts += 1;
    }
  }

  function renderPoll(p) {
    state.poll = p;
    const box = $('poll');
    box.hidden = false;
    box.replaceChildren();
    box.appendChild(el('div', 'q', p.question));
    const total = p.votes.reduce(function (a, b) { return a + b; }, 0);
    p.options.forEach(function (o, i) {
      const b = el('button', 'opt');
      b.dataset.option = String(i);
      const pct = total ? Math.round((100 * p.votes[i]) / total) : 0;
      b.appendChild(el('span', 'label', o));
      b.appendChild(el('span', 'tally', p.votes[i] + ' · ' + pct + '%'));
      b.style.setProperty('--pct', pct + '%');
      b.disabled = p.status !== 'open';
      b.addEventListener('click', function () { send({ type: 'vote', poll_id: p.id, option: i }); });
      box.appendChild(b);
    });
    box.appendChild(el('div', 'status', p.status === 'open' ? total + ' votes' : 'Closed · ' + total + ' votes'));
    $('pollclose').hidden = !(canModerate() && p.status === 'open');
  }

  function showError(m) {
    state.errors.push(m.code);
    err.textContent = m.message || m.code;
    err.hidden = false;
    clearTimeout(showError.t);
    showError.t = setTimeout(function () { err.hidden = true; }, 5000);
  }

  function handle(m) {
    switch (m.type) {
      case 'welcome':
        state.user = m.user;
        state.role = m.role;
        state.settings = m.settings;
        $('modtools').hidden = !canModerate();
        $('reactions').replaceChildren();
        m.reactions.forEach(function (e) {
          const b = el('button', 'react', e);
          b.dataset.emoji = e;
          b.addEventListener('click', function () { send({ type: 'react', emoji: e }); });
          $('reactions').appendChild(b);
        });
        input.maxLength = m.settings.max_length;
        input.placeholder = m.role === 'guest' && !m.settings.guests ? 'Log in to chat' : 'Send a message';
        break;
      case 'history':
        list.replaceChildren();
        m.messages.forEach(addMessage);
        break;
      case 'chat': addMessage(m); break;
      case 'deleted': {
        const li = list.querySelector('li[data-id="' + CSS.escape(m.id) + '"]');
        if (li) li.remove();
        break;
      }
      case 'viewers':
        state.viewers = m.count;
        $('chatviewers').textContent = m.count + (m.count === 1 ? ' viewer' : ' viewers');
        break;
      case 'reactions':
        Object.keys(m.counts).forEach(function (e) { burst(e, m.counts[e]); });
        break;
      case 'poll': renderPoll(m.poll); break;
      case 'moderation':
        if (m.action === 'timeout') systemLine(m.user + ' was timed out');
        else if (m.action === 'ban') systemLine(m.user + ' was banned');
        else if (m.action === 'unban') systemLine(m.user + ' may chat again');
        else if (m.action === 'settings') {
          state.settings = Object.assign({}, state.settings, m);
          systemLine(m.slow_ms ? 'Slow mode: ' + Math.round(m.slow_ms / 1000) + ' s' : 'Chat settings changed');
        }
        break;
      case 'error': showError(m); break;
    }
  }

  function connect() {
    const url = chatUrl.replace(/^http/, 'ws') + '/ws/' + encodeURIComponent(channel) +
      (token ? '?token=' + encodeURIComponent(token) : '');
    ws = new WebSocket(url);
    ws.onopen = function () { state.connected = true; retry = 500; };
    ws.onmessage = function (e) {
      String(e.data).split('\n').forEach(function (line) {
        if (line) handle(JSON.parse(line));
      });
    };
    ws.onclose = function (e) {
      state.connected = false;
      state.closes.push(e.code);
      if (e.code === 4003) { systemLine('This account is banned.'); return; }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function reconnect() {
    if (ws) { ws.onclose = null; ws.close(); }
    connect();
  }

  // Accounts.
  function showAccount() {
    const signedIn = !!token;
    $('authform').hidden = signedIn;
    $('whoami').hidden = !signedIn;
    $('whoname').textContent = signedIn ? (state.user || '') : '';
  }

  async function auth(path, body) {
    $('autherr').textContent = '';
    try {
      const r = await fetch(authUrl + path, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      const j = await r.json().catch(function () { return {}; });
      if (!r.ok) { $('autherr').textContent = j.message || ('HTTP ' + r.status); return; }
      token = j.token;
      localStorage.setItem(TOKEN_KEY, token);
      state.user = j.user.username;
      showAccount();
      reconnect();
      window.dispatchEvent(new Event('stage-auth'));
    } catch (e) {
      $('autherr').textContent = 'Accounts are unavailable right now.';
    }
  }

  $('login').addEventListener('click', function () {
    auth('/auth/login', { username: $('auth-user').value, password: $('auth-pass').value });
  });
  $('register').addEventListener('click', function () {
    auth('/auth/register', { username: $('auth-user').value, email: $('auth-email').value, password: $('auth-pass').value });
  });
  $('logout').addEventListener('click', function () {
    token = null;
    localStorage.removeItem(TOKEN_KEY);
    state.user = null;
    showAccount();
    reconnect();
    window.dispatchEvent(new Event('stage-auth'));
  });

  function sendChat() {
    const body = input.value;
    if (!body.trim()) return;
    send({ type: 'chat', body: body });
    note(state.sentLog, body);
    input.value = '';
  }
  $('chatsend').addEventListener('click', sendChat);
  input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { e.preventDefault(); sendChat(); } });

  $('slow').addEventListener('change', function () { send({ type: 'slow', seconds: Number($('slow').value) }); });
  $('pollcreate').addEventListener('click', function () {
    const options = $('pollopts').value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    send({ type: 'poll_create', question: $('pollq').value, options: options });
  });
  $('pollclose').addEventListener('click', function () {
    if (state.poll) send({ type: 'poll_close', poll_id: state.poll.id });
  });

  fetch('/channels/' + encodeURIComponent(channel), { cache: 'no-store' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(async function (c) {
      if (!c || !c.chat_url) { panel.hidden = true; return; }
      chatUrl = c.chat_url;
      authUrl = c.auth_url;
      // A stale token (expired, or the key changed) is dropped, not retried.
      if (token) {
        try {
          const r = await fetch(authUrl + '/auth/me', { headers: { Authorization: 'Bearer ' + token } });
          if (r.status === 401 || r.status === 403) { token = null; localStorage.removeItem(TOKEN_KEY); }
          else if (r.ok) state.user = (await r.json()).username;
        } catch (e) { /* accounts down: chat as before */ }
      }
      showAccount();
      connect();
    })
    .catch(function () {});
})();
