// segue's web player: a personal session (or the broadcast), its events, its controls.
// Loads nothing from outside this server. A token given as ?token= in the page's address
// is kept for this tab and sent with every call (streams take it in the query).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const params = new URLSearchParams(location.search);
  if (params.get("token")) sessionStorage.setItem("segue-token", params.get("token"));
  const token = sessionStorage.getItem("segue-token");
  let session = null;     // {id, stream_url, events_url} or null for the broadcast
  let events = null;
  let playing = false;

  function withToken(url) {
    return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
  }
  async function api(method, url, body) {
    const headers = {"Content-Type": "application/json"};
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(url, {method, headers, body: body ? JSON.stringify(body) : undefined});
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }
  function setState(text) { $("state").textContent = text; }
  function songText(song) { return song ? song.title + (song.artist ? " — " + song.artist : "") : "—"; }

  function showNow(np) {
    const song = np && np.song;
    $("title").textContent = song ? song.title : "—";
    $("artist").textContent = song ? song.artist : "";
    $("why").textContent = np && np.why ? "Why: " + np.why : "";
    if (np && np.link) $("link").textContent = "“" + np.link + "”";
    if (song && "mediaSession" in navigator) {
      navigator.mediaSession.metadata = new MediaMetadata({
        title: song.title, artist: song.artist || "", album: song.album || "segue"});
    }
  }
  function showList(id, items, describe) {
    const list = $(id);
    list.replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      li.textContent = songText(item.song);
      const small = document.createElement("small");
      small.textContent = describe(item);
      li.appendChild(small);
      return li;
    }));
  }
  function showSnapshot(data) {
    showNow(data.now_playing);
    if (data.upcoming) showList("upcoming", data.upcoming, (u) => u.why || "");
    else if (data.playing_next) showList("upcoming", [data.playing_next], (u) => u.why || "");
    const nowId = data.now_playing && data.now_playing.song ? data.now_playing.song.id : null;
    // A session's history includes the track playing now; "Played" lists the ones before it.
    const history = (data.history ? data.history.slice().reverse() : (data.song_history || []))
      .filter((h) => h.ended !== null || h.song.id !== nowId);
    showList("history", history.slice(0, 10), (h) => h.why || "");
  }

  function follow() {
    if (events) events.close();
    const url = session ? session.events_url : "/api/events";
    events = new EventSource(withToken(url));
    events.addEventListener("nowplaying", (e) => showSnapshot(JSON.parse(e.data)));
    events.addEventListener("track", (e) => {
      const data = JSON.parse(e.data);
      showNow({song: data.song, why: data.why});
      $("link").textContent = "";
      refresh();
    });
    // A link's words arrive as they are heard, never before.
    events.addEventListener("link", (e) => { $("link").textContent = "“" + JSON.parse(e.data).text + "”"; });
    events.addEventListener("upcoming", () => refresh());
    events.onerror = () => setState(playing ? "reconnecting…" : "connecting…");
    events.onopen = () => setState(session ? "your show" : "the station");
  }
  async function refresh() {
    try {
      const data = session ? await api("GET", "/api/sessions/" + session.id) : await api("GET", "/api/nowplaying");
      showSnapshot(data);
    } catch (err) { setState(err.message); }
  }

  async function openSession() {
    const personal = $("personal").checked;
    try {
      if (session) await api("DELETE", "/api/sessions/" + session.id).catch(() => null);
      session = await api("POST", "/api/sessions", {personal});
    } catch (err) {
      session = null;  // no session to be had (all taken): the broadcast still plays
      $("answer").textContent = err.message + " Playing the station instead.";
    }
    for (const id of ["skip", "like", "dislike", "less-talk", "more-talk"]) $(id).disabled = !session;
    $("request").disabled = !session;
    follow();
    refresh();
    if (playing) start();
  }
  function streamUrl() { return withToken(session ? session.stream_url : "/stream.mp3"); }
  function start() {
    // A live stream is re-opened on every play: it joins "now", never an old buffer.
    audio.src = streamUrl() + (streamUrl().includes("?") ? "&" : "?") + "t=" + Date.now();
    audio.play().catch((err) => setState("press play (" + err.name + ")"));
    playing = true;
    $("play").textContent = "❚❚";
    $("play").setAttribute("aria-label", "Pause");
  }
  function stop() {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
    playing = false;
    $("play").textContent = "▶";
    $("play").setAttribute("aria-label", "Play");
  }
  async function react(type, text) {
    if (!session) return;
    try {
      const result = await api("POST", "/api/sessions/" + session.id + "/reactions", {type, text: text || ""});
      $("answer").textContent = result.message;
      if (result.upcoming) showList("upcoming", result.upcoming, (u) => u.why || "");
    } catch (err) { $("answer").textContent = err.message; }
  }

  $("play").addEventListener("click", () => (playing ? stop() : start()));
  $("skip").addEventListener("click", () => react("skip"));
  $("like").addEventListener("click", () => react("like"));
  $("dislike").addEventListener("click", () => react("dislike"));
  $("less-talk").addEventListener("click", () => react("less_talk"));
  $("more-talk").addEventListener("click", () => react("more_talk"));
  $("personal").addEventListener("change", openSession);
  $("request-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("request").value.trim();
    if (text) { react("request", text); $("request").value = ""; }
  });
  if ("mediaSession" in navigator) {
    navigator.mediaSession.setActionHandler("play", start);
    navigator.mediaSession.setActionHandler("pause", stop);
    navigator.mediaSession.setActionHandler("nexttrack", () => react("skip"));
  }
  window.seguePlayer = {get session() { return session; }, start, stop};
  openSession();
})();
