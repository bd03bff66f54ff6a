// Memberships and tips on the watch page: subscribe buttons (one per tier),
// a tip form while the channel is live, the member's status and a link to
// manage the membership, and for members-only channels the playback token
// the player needs (renewed before it expires) or, for everyone else, a
// "members only — subscribe to watch" screen. Talks to billingd (URL from
// /channels/{channel}); payment happens on the checkout page it returns.
// Every string shown is set with textContent.
(function () {
  'use strict';
  const parts = location.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'watch' && parts[0] !== 'vod') return;
  // On a replay (/vod/{id}) the channel comes from the recording.
  let channel = parts[0] === 'watch' ? decodeURIComponent(parts[1] || '') : null;
  const $ = function (id) { return document.getElementById(id); };
  const TOKEN_KEY = 'stage.token';
  let authUrl = null;
  let info = null; // /channels/{channel}/tiers
  let play = null; // {token, expires_at}
  let renewTimer = null;
  let ready;
  const loaded = new Promise(function (r) { ready = r; });

  // What tests (and curious users) can read.
  const state = (window.stageMembers = {
    membersOnly: false, member: false, tiers: [], gate: false, renewals: 0, errors: [],
    current: function () { return play ? play.token : null; },
    playbackToken: playbackToken,
    showGate: showGate,
  });

  function login() { return localStorage.getItem(TOKEN_KEY); }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function fail(msg) {
    $('supporterr').textContent = msg;
    state.errors.push(msg);
  }

  async function api(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    const t = login();
    if (t) headers.Authorization = 'Bearer ' + t;
    const r = await fetch(authUrl + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
    });
    const j = await r.json().catch(function () { return {}; });
    return { status: r.status, ok: r.ok, body: j };
  }

  // A playback token for this channel, or null (not logged in, not a
  // member). Renewed a minute before it expires while the page is open.
  async function playbackToken() {
    await loaded;
    if (!authUrl || !login()) return null;
    if (play && play.expires_at * 1000 - Date.now() > 60000) return play.token;
    const r = await api('POST', '/channels/' + encodeURIComponent(channel) + '/playback-token');
    if (!r.ok) { play = null; state.member = false; return null; }
    play = r.body;
    state.member = true;
    clearTimeout(renewTimer);
    renewTimer = setTimeout(function () {
      state.renewals += 1;
      play = null;
      playbackToken();
    }, Math.max(5000, play.expires_at * 1000 - Date.now() - 60000));
    return play.token;
  }

  function showGate(on) {
    state.gate = on;
    $('gate').hidden = !on;
    $('gatelogin').hidden = !on || !!login();
  }

  async function subscribe(tier) {
    if (!login()) { fail('Log in or register (in the chat panel) to subscribe.'); showGate(state.gate); return; }
    const r = await api('POST', '/channels/' + encodeURIComponent(channel) + '/subscribe',
      { tier_id: tier.id, return_url: location.href });
    if (r.ok) { location.href = r.body.url; return; }
    fail(r.body.message || ('Subscribing failed (HTTP ' + r.status + ').'));
  }

  function tierButtons(into) {
    into.textContent = '';
    state.tiers.forEach(function (t) {
      const b = el('button', 'subscribe', 'Subscribe · ' + t.price + ' / ' + t.interval);
      b.dataset.tier = String(t.id);
      b.title = t.name;
      b.addEventListener('click', function () { subscribe(t); });
      into.appendChild(b);
    });
  }

  // Minor units from what the viewer typed ("5", "5.5", "5.00").
  function minor(text) {
    const m = /^\s*(\d+)(?:[.,](\d{1,2}))?\s*$/.exec(text);
    if (!m) return null;
    return Number(m[1]) * 100 + Number((m[2] || '0').padEnd(2, '0'));
  }

  async function tip() {
    $('supporterr').textContent = '';
    if (!login()) { fail('Log in or register (in the chat panel) to tip.'); return; }
    const streamId = window.stagePlayer && !window.stagePlayer.vod && window.stagePlayer.streamId;
    if (!streamId) { fail('Tips go to a live stream; this channel is offline.'); return; }
    const amount = minor($('tipamount').value);
    if (amount === null) { fail('Enter an amount like 5.00'); return; }
    const r = await api('POST', '/streams/' + streamId + '/tip',
      { amount_minor: amount, message: $('tipmsg').value, return_url: location.href });
    if (r.ok) { location.href = r.body.url; return; }
    fail(r.body.message || ('Tipping failed (HTTP ' + r.status + ').'));
  }

  async function refresh() {
    if (!authUrl) return;
    let member = null;
    if (login()) {
      const r = await api('GET', '/channels/' + encodeURIComponent(channel) + '/membership');
      if (r.ok) member = r.body;
    }
    state.member = !!(member && member.active);
    $('membership').textContent = state.member ? '★ Member' + (member.tier ? ' · ' + member.tier : '') : '';
    $('manage').hidden = !member || !member.status || member.status === 'canceled';
    $('tiers').hidden = state.member;
    $('tipform').hidden = !login();
    if (state.gate) showGate(true);
  }

  $('tipsend').addEventListener('click', tip);
  $('manage').addEventListener('click', async function () {
    const r = await api('POST', '/billing/portal', { channel: channel });
    if (r.ok) { location.href = r.body.url; return; }
    fail(r.body.message || ('HTTP ' + r.status));
  });
  window.addEventListener('stage-auth', function () { play = null; refresh(); });

  const named = channel !== null
    ? Promise.resolve(channel)
    : fetch('/vods/' + encodeURIComponent(parts[1] || ''), { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) { return v ? v.channel : null; });
  named
    .then(function (name) {
      if (!name) return null;
      channel = name;
      return fetch('/channels/' + encodeURIComponent(channel), { cache: 'no-store' });
    })
    .then(function (r) { return r && r.ok ? r.json() : null; })
    .then(async function (c) {
      if (!c || !c.auth_url) { ready(); return; }
      authUrl = c.auth_url;
      state.membersOnly = !!c.members_only;
      const r = await fetch(authUrl + '/channels/' + encodeURIComponent(channel) + '/tiers').catch(function () { return null; });
      info = r && r.ok ? await r.json() : null;
      state.tiers = info ? info.tiers : [];
      tierButtons($('tiers'));
      tierButtons($('gatetiers'));
      $('support').hidden = false;
      ready();
      refresh();
    })
    .catch(function () { ready(); });
})();
