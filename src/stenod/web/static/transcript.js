// The transcript page: every final of the session with its time on the stream, the open
// utterance's partial below, a note where the daemon restarted, and the downloads.
"use strict";

(() => {
  for (const fmt of ["txt", "srt", "vtt"]) {
    const a = document.getElementById(`dl-${fmt}`);
    a.href = stenod.withToken(`transcript.${fmt}`);
  }
  const list = document.getElementById("transcript");
  const partialBox = document.getElementById("partial");
  const notice = document.getElementById("notice");
  let session = null;
  let rows = new Map();  // utt -> element, this session's
  let closed = 0;
  let partial = null;

  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }

  function addFinal(body) {
    closed = Math.max(closed, body.utt);
    if (partial && partial.utt <= body.utt) partial = null;
    if (!body.text.trim() || rows.has(body.utt)) return;
    const row = document.createElement("p");
    row.className = "final";
    row.dataset.utt = body.utt;
    const time = document.createElement("time");
    time.textContent = stenod.timestamp(body.audio.start_ms);
    time.title = body.t_wall;
    row.append(time, document.createTextNode(" " + body.text.trim()));
    list.append(row);
    rows.set(body.utt, row);
  }

  function showPartial() {
    partialBox.textContent = partial ? partial.text : "";
  }

  function follow(fn) {
    const stick = atBottom();
    fn();
    showPartial();
    if (stick) window.scrollTo(0, document.body.scrollHeight);
  }

  stenod.follow({
    snapshot(msg) {
      follow(() => {
        if (msg.session !== session) {
          if (session !== null && msg.session !== null) {
            const mark = document.createElement("p");
            mark.className = "restart";
            mark.textContent = `stenod restarted: new session ${stenod.shortSession(msg.session)}`;
            list.append(mark);
            for (const row of rows.values()) row.classList.add("earlier");
          }
          rows = new Map();
          closed = 0;
          if (msg.session !== null) session = msg.session;
        }
        partial = null;
        for (const f of msg.finals) if (stenod.inStream(f)) addFinal(f);
        if (msg.partial && stenod.inStream(msg.partial) && msg.partial.utt > closed) partial = msg.partial;
        notice.textContent = stenod.daemonNotice(msg);
      });
    },
    event(body) {
      follow(() => {
        if (body.type === "final") addFinal(body);
        else if (body.type === "partial" && body.utt > closed && !(partial && partial.utt === body.utt && body.rev < partial.rev)) partial = body;
      });
    },
    daemon(msg) { notice.textContent = stenod.daemonNotice(msg); },
    link(up) { if (!up) notice.textContent = "lost the connection to stenod web; reconnecting…"; },
  });
})();
