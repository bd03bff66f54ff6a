// The baseline: the chat server most self-hosted tutorials show. A Map of
// rooms (by URL path); each message is parsed and broadcast to every socket
// in the room as JSON, one frame per message. No batching, no limits.
// usage: node bench/chat/node-server.mjs PORT
import { WebSocketServer, WebSocket } from 'ws';

const port = Number(process.argv[2] || 8090);
const rooms = new Map();
const wss = new WebSocketServer({ port, host: '127.0.0.1' });
wss.on('connection', (ws, req) => {
  const name = req.url;
  if (!rooms.has(name)) rooms.set(name, new Set());
  const room = rooms.get(name);
  room.add(ws);
  ws.on('message', (data) => {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    const out = JSON.stringify({ type: 'chat', user: 'guest', body: msg.body, at: Date.now() });
    for (const c of room) if (c.readyState === WebSocket.OPEN) c.send(out);
  });
  ws.on('close', () => room.delete(ws));
});
wss.on('listening', () => process.stderr.write(`listening ${port}\n`));
