// StreamStage cards: the front page (the channels live now with thumbnail,
// title and viewers, and the recent recordings, refreshed every 10 s) and
// the helpers the watch page's "past broadcasts" use (window.stageCards).
// Every string from the server is set as text: nothing is parsed as HTML.
(function () {
  'use strict';
  const REFRESH_MS = 10000;

  function clock(s) {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    const mm = (h ? String(m).padStart(2, '0') : String(m)) + ':' + String(sec).padStart(2, '0');
    return h ? h + ':' + mm : mm;
  }

  // One card: a link with a picture, a title and a line under it.
  function card(href, img, title, sub, badge) {
    const li = document.createElement('li');
    li.className = 'card';
    const a = document.createElement('a');
    a.href = href;
    const pic = document.createElement('div');
    pic.className = 'pic';
    if (img) {
      const i = document.createElement('img');
      i.src = img;
      i.alt = '';
      i.loading = 'lazy';
      i.addEventListener('error', function () { i.remove(); });
      pic.appendChild(i);
    }
    if (badge) {
      const b = document.createElement('span');
      b.className = 'badge ' + badge.kind;
      b.textContent = badge.text;
      pic.appendChild(b);
    }
    const t = document.createElement('div');
    t.className = 'title';
    t.textContent = title;
    const s = document.createElement('div');
    s.className = 'sub';
    s.textContent = sub;
    a.append(pic, t, s);
    li.appendChild(a);
    return li;
  }

  function fill(list, empty, items) {
    list.replaceChildren.apply(list, items);
    empty.hidden = items.length > 0;
  }

  // A recording's card.
  function vodCard(v) {
    return card('/vod/' + encodeURIComponent(v.id), v.thumbnail_url,
      v.title || v.channel,
      v.channel + ' · ' + new Date(v.started_at).toLocaleDateString() + ' · ' + clock(v.duration_s),
      { kind: 'offline', text: clock(v.duration_s) });
  }

  window.stageCards = { card: card, vodCard: vodCard, fill: fill, clock: clock };
  if (!document.getElementById('live')) return;

  async function refresh() {
    try {
      const live = await (await fetch('/live', { cache: 'no-store' })).json();
      fill(document.getElementById('live'), document.getElementById('nolive'),
        live.channels.map(function (c) {
          return card('/watch/' + encodeURIComponent(c.channel),
            // Cache-busted so the picture follows the stream.
            c.thumbnail_url + '?t=' + Math.floor(Date.now() / REFRESH_MS),
            c.title || c.channel,
            c.channel + ' · ' + c.viewers + (c.viewers === 1 ? ' viewer' : ' viewers'),
            { kind: 'live', text: 'LIVE' });
        }));
    } catch (e) { /* try again at the next refresh */ }
    try {
      const vods = await (await fetch('/vods?limit=12', { cache: 'no-store' })).json();
      fill(document.getElementById('vods'), document.getElementById('novods'),
        vods.vods.map(vodCard));
    } catch (e) { /* likewise */ }
  }
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
