// The caption page: the last finals in full, the settling partial dimmed, old lines fading.
// URL parameters: size (px), lines, color, partial, bg ("transparent" for OBS), font, fade (s, 0 = never),
// stream, token.
"use strict";

(() => {
  const p = stenod.params;
  const root = document.documentElement.style;
  root.setProperty("--size", `${stenod.number("size", 44, 8, 400)}px`);
  root.setProperty("--fg", stenod.colour("color", "#ffffff"));
  root.setProperty("--partial", stenod.colour("partial", "#a8a8a8"));
  root.setProperty("--bg", stenod.colour("bg", "#101010"));
  if (p.has("font")) root.setProperty("--font", `"${p.get("font").replace(/"/g, "")}", sans-serif`);
  const lines = stenod.number("lines", 3, 1, 20);
  const fadeS = stenod.number("fade", 8, 0, 3600);

  const box = document.getElementById("captions");
  const notice = document.getElementById("notice");
  let finals = [];          // {utt, text, at}
  let partial = null;       // newest partial body of the open utterance
  let closed = 0;           // highest utterance with a final
  let restartShownUntil = 0;

  function say(text) {      // a restart notice stays a few seconds, unless something worse comes
    if (text || Date.now() >= restartShownUntil) notice.textContent = text;
  }

  function render() {
    box.replaceChildren();
    const count = partial ? lines - 1 : lines;
    for (const f of count > 0 ? finals.slice(-count) : []) {
      const div = document.createElement("div");
      div.className = "line final";
      div.dataset.utt = f.utt;
      div.textContent = f.text;
      if (fadeS > 0 && Date.now() - f.at > fadeS * 1000) div.classList.add("faded");
      box.append(div);
    }
    if (partial) {
      const div = document.createElement("div");
      div.className = "line partial";
      div.dataset.utt = partial.utt;
      div.textContent = partial.text;
      box.append(div);
    }
  }

  function takeFinal(body, at) {
    closed = Math.max(closed, body.utt);
    if (partial && partial.utt <= body.utt) partial = null;
    const text = body.text.trim();
    if (text) finals = finals.filter((f) => f.utt !== body.utt).concat([{ utt: body.utt, text, at }]).slice(-50);
  }

  stenod.follow({
    snapshot(msg) {
      finals = [];
      closed = 0;
      partial = null;
      // Snapshot finals fade by their age (they may be from long before this page opened).
      for (const f of msg.finals) if (stenod.inStream(f)) takeFinal(f, Math.min(Date.now(), Date.parse(f.t_wall) || 0));
      if (msg.partial && stenod.inStream(msg.partial) && msg.partial.utt > closed) partial = msg.partial;
      say(stenod.daemonNotice(msg));
      render();
    },
    event(body) {
      if (body.type === "partial") {
        if (body.utt <= closed || (partial && partial.utt === body.utt && body.rev < partial.rev)) return;
        partial = body;
      } else if (body.type === "final") {
        takeFinal(body, Date.now());
      } else if (body.type === "status") {
        say(["paused", "stopped", "error"].includes(body.state) ? `stenod is ${body.state}` : "");
        return;
      } else {
        return;
      }
      render();
    },
    daemon(msg) {
      const text = stenod.daemonNotice(msg);
      if (msg.state === "restarted") {
        notice.textContent = text;
        restartShownUntil = Date.now() + 5000;
        setTimeout(() => say(""), 5000);
      } else {
        say(text);
      }
    },
    link(up) {
      if (!up) say("lost the connection to stenod web; reconnecting…");
    },
  });
  setInterval(render, 1000);  // fading
})();
