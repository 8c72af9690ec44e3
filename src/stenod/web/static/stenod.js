// Follows `stenod web`'s event stream (/ws) the way ZeroMQ clients follow the daemon (the Clone
// rule): the first message is a snapshot of the session; later event bodies whose seq it covers
// are dropped; a gap in seq asks for a new snapshot; a new session means the daemon restarted.
// When the server itself goes away, it reconnects with a growing delay.
"use strict";

const stenod = (() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");

  function withToken(path) {
    return token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
  }

  // A colour from a URL parameter: "ffd700" or "#ffd700" (hex), a name like "white", or "transparent".
  function colour(name, fallback) {
    const value = (params.get(name) || "").trim();
    if (/^#?[0-9a-fA-F]{3,8}$/.test(value)) return value.startsWith("#") ? value : `#${value}`;
    if (/^[a-zA-Z]+$/.test(value)) return value;
    return fallback;
  }

  function number(name, fallback, min, max) {
    const value = Number(params.get(name));
    return params.has(name) && Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
  }

  // Events without a stream label belong to every stream.
  function inStream(body) {
    const wanted = params.get("stream");
    return !wanted || body.stream === undefined || body.stream === wanted;
  }

  function shortSession(session) {
    return (session || "?").slice(0, 8);
  }

  function timestamp(ms) {
    const s = Math.floor(ms / 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  }

  // handlers: snapshot(msg), event(body), daemon(msg), link(up: boolean)
  function follow(handlers) {
    let session = null;
    let seq = 0;
    let delay = 500;
    let ws = null;

    function connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${scheme}://${location.host}${withToken("/ws")}`);
      ws.onopen = () => { delay = 500; handlers.link(true); };
      ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        if (msg.type === "web.snapshot") {
          session = msg.session;
          seq = msg.seq;
          handlers.snapshot(msg);
        } else if (msg.type === "web.daemon") {
          handlers.daemon(msg);
        } else if (typeof msg.seq === "number" && typeof msg.session === "string") {
          if (msg.session !== session) { ws.send("snapshot"); return; }  // a restart: catch up from a snapshot
          if (msg.seq <= seq) return;                                    // the snapshot covered it
          if (msg.seq > seq + 1) ws.send("snapshot");                    // missed events: resync
          seq = msg.seq;
          if (inStream(msg)) handlers.event(msg);
        }
      };
      ws.onclose = () => {
        handlers.link(false);
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 5000);
      };
    }
    connect();
  }

  function daemonNotice(msg) {
    switch (msg.state || msg.daemon) {
      case "waiting": case "connecting": return "waiting for stenod…";
      case "silent": return "stenod is not responding; waiting…";
      case "restarted": return `stenod restarted (new session ${shortSession(msg.session)})`;
      default: return "";
    }
  }

  return { params, withToken, colour, number, inStream, shortSession, timestamp, follow, daemonNotice };
})();
