/**
 * The bare relay the benchmark compares Parley with: the least a Deno
 * WebSocket relay can do and still speak enough of Parley's protocol for the
 * load generator. Rooms are a Map; `join` answers `joined` and tells the room
 * `peer-joined`; a `signal` is parsed with `JSON.parse` and its original text
 * forwarded with `from` appended. No validation, storage, limits or resume.
 *
 * Run: `PORT=0 deno run --allow-net --allow-env bench/baseline_relay.ts`; it
 * logs `{"event":"listening","url":…}` on stderr like Parley does.
 *
 * @module
 */

const rooms = new Map<string, Map<string, WebSocket>>();
let nextId = 0;

Deno.serve({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 0),
  onListen: ({ hostname, port }) =>
    console.error(JSON.stringify({
      event: "listening",
      url: `http://${hostname}:${port}/`,
    })),
}, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req, {
    idleTimeout: Number(Deno.env.get("IDLE_TIMEOUT_SEC") ?? 3600),
  });
  // Same length as Parley's peer IDs, so relayed frames are the same size.
  const id = String(nextId++).padStart(22, "0");
  let roomId = "";
  let room: Map<string, WebSocket> | undefined;
  socket.onmessage = ({ data }) => {
    const msg = JSON.parse(data);
    if (msg.type === "signal") {
      room?.get(msg.to)?.send(`${data.slice(0, -1)},"from":"${id}"}`);
    } else if (msg.type === "join") {
      roomId = msg.room;
      room = rooms.get(roomId) ?? new Map();
      rooms.set(roomId, room);
      const peers = [...room.keys()].map((peerId) => ({ peerId, name: "" }));
      const joined = JSON.stringify({
        type: "peer-joined",
        peerId: id,
        name: "",
      });
      for (const other of room.values()) other.send(joined);
      room.set(id, socket);
      socket.send(
        JSON.stringify({ type: "joined", room: msg.room, peerId: id, peers }),
      );
    } else if (msg.type === "ping") {
      socket.send('{"type":"pong"}');
    }
  };
  socket.onclose = () => {
    room?.delete(id);
    if (room?.size === 0) rooms.delete(roomId);
  };
  return response;
});

// Exit through Deno.exit so that `--cpu-prof` writes its profile.
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
