/* Jemput kiosk: plain JS, no framework, no inline scripts (CSP default-src 'self'). */
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const body = document.body;
  const lang = body.dataset.lang || "id";
  const csrf = () => $('meta[name="csrf-token"]').content;
  const t = (key) => { const n = $("#i18n") && $("#i18n").content.querySelector('[data-k="' + key + '"]'); return n ? n.textContent : key; };
  const handlers = {};
  const on = (topic, fn) => { (handlers[topic] = handlers[topic] || []).push(fn); };
  window.jemput = { on: on };

  function post(url, data) {
    const form = new URLSearchParams(data || {});
    return fetch(url, { method: "POST", body: form, headers: { "X-CSRFToken": csrf() }, credentials: "same-origin" });
  }

  /* modals and confirmations ------------------------------------------------------------------ */
  function openModal(id) { $("#" + id).classList.remove("hidden"); }
  function closeModal(id) { $("#" + id).classList.add("hidden"); }
  document.addEventListener("click", (e) => {
    const opener = e.target.closest("[data-open]");
    if (opener) { openModal(opener.dataset.open); return; }
    const closer = e.target.closest("[data-close]");
    if (closer) { closeModal(closer.dataset.close); }
  });
  let pendingForm = null;
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (form.dataset.confirm && form.dataset.confirmed !== "1") {
      e.preventDefault();
      pendingForm = form;
      $("#confirm-text").textContent = form.dataset.confirm;
      openModal("confirm-modal");
    }
  });
  const yes = $("#confirm-yes"), no = $("#confirm-no");
  if (yes) yes.addEventListener("click", () => { if (pendingForm) { pendingForm.dataset.confirmed = "1"; pendingForm.requestSubmit(); } closeModal("confirm-modal"); });
  if (no) no.addEventListener("click", () => { pendingForm = null; closeModal("confirm-modal"); });

  /* keypads ---------------------------------------------------------------------------------------- */
  function bindKeypad(pad, get, set) {
    pad.addEventListener("click", (e) => {
      const key = e.target.closest("[data-key]");
      if (!key) return;
      const k = key.dataset.key;
      let v = get();
      if (k === "back") v = v.slice(0, -1);
      else if (k === "clear") v = "";
      else if (k === "space") v = v + " ";
      else v = v + k;
      set(v);
    });
  }
  function pinDots(value, dots) {
    $$("span", dots).forEach((s, i) => s.classList.toggle("on", i < value.length));
  }
  $$(".keypad[data-target=pin]").forEach((pad) => {
    const form = pad.closest("form");
    const input = $("#pin", form), dots = $("#pin-dots", form);
    const max = parseInt(form.dataset.pinLength || "6", 10);
    bindKeypad(pad, () => input.value, (v) => {
      input.value = v.replace(/\D/g, "").slice(0, max);
      pinDots(input.value, dots);
      if (form.id === "pin-form" && input.value.length === max) form.requestSubmit();
    });
  });

  /* NIK entry with live validation (the server says which part is wrong) ---------------------- */
  const nikBox = $("#nik-search");
  if (nikBox) {
    let nik = "";
    const display = $("#nik-display"), results = $("#results");
    let seq = 0;
    const render = (bad) => {
      display.textContent = "";
      for (let i = 0; i < 16; i++) {
        const d = document.createElement("span");
        d.className = "d" + ([6, 12].includes(i) ? " gap" : "") + (i >= nik.length ? " empty" : "");
        if (bad && i >= bad[0] && i < bad[1] && i < nik.length) d.classList.add("bad");
        d.textContent = i < nik.length ? nik[i] : "•";
        display.appendChild(d);
      }
    };
    const check = () => {
      const mine = ++seq;
      fetch(nikBox.dataset.url + "?nik=" + nik, { credentials: "same-origin" }).then((r) => r.text()).then((html) => {
        if (mine !== seq) return;
        results.innerHTML = html;
        const st = $("#result-state", results);
        render(st && st.dataset.span ? st.dataset.span.split(",").map(Number) : null);
      });
    };
    bindKeypad($(".keypad", nikBox), () => nik, (v) => { nik = v.replace(/\D/g, "").slice(0, 16); render(null); check(); });
    render(null);
  }

  /* name search on the on-screen keyboard ------------------------------------------------------ */
  const nameBox = $("#name-search");
  if (nameBox) {
    let q = "", seq = 0, timer = null;
    const display = $("#name-display"), results = $("#results");
    const search = () => {
      const mine = ++seq;
      fetch(nameBox.dataset.url + "?q=" + encodeURIComponent(q.trim()), { credentials: "same-origin" })
        .then((r) => r.text()).then((html) => { if (mine === seq) results.innerHTML = html; });
    };
    bindKeypad($("#keyboard"), () => q, (v) => {
      q = v.slice(0, 40); display.textContent = q;
      clearTimeout(timer); timer = setTimeout(search, 150);
    });
  }

  /* Server-Sent Events ------------------------------------------------------------------------------ */
  function connect() {
    if (body.dataset.loggedIn !== "1" || !window.EventSource) return;
    const es = new EventSource("/api/events");
    es.onopen = () => (handlers["sse.open"] || []).forEach((fn) => fn());
    es.onmessage = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch (err) { return; }
      window.jemputLastEvent = ev;
      (handlers[ev.topic] || []).forEach((fn) => fn(ev.data));
      Object.keys(handlers).forEach((prefix) => {
        if (prefix.endsWith("*") && ev.topic.startsWith(prefix.slice(0, -1))) handlers[prefix].forEach((fn) => fn(ev.data, ev.topic));
      });
    };
  }

  /* status bar ------------------------------------------------------------------------------------ */
  const devWatch = {};
  on("status", (s) => {
    const pct = s.power && s.power.battery_percent;
    if ($("#st-battery")) {
      $("#st-battery").textContent = pct === null || pct === undefined ? "–" : pct + "%";
      $("#st-power").classList.toggle("bad", pct !== null && pct < 15);
      $("#st-mains").classList.toggle("hidden", !(s.power && s.power.on_mains));
      $("#st-pending").textContent = s.queue ? s.queue.pending : "0";
      $("#st-net").classList.toggle("bad", s.network && s.network.online === false);
      const broken = Object.entries(s.devices || {}).filter(([n, d]) => d.health !== "ok" && n !== "battery");
      $("#st-devices").classList.toggle("hidden", broken.length === 0);
    }
    if ($("#h-battery")) {
      $("#h-battery").textContent = pct === null || pct === undefined ? "–" : pct + "%";
      if (s.power && s.power.on_mains !== null) $("#h-mains").textContent = t(s.power.on_mains ? "on_mains" : "on_battery");
      $("#h-pending").textContent = s.queue.pending;
      if (s.last_upload_local && $("#h-last")) $("#h-last").textContent = s.last_upload_local;
    }
    if ($("#h-net") && s.network) {
      const n = s.network;
      $("#h-net").textContent = !n.uploader ? t("net_off") : n.online === true ? t("net_online") : n.online === false ? t("net_offline") : "–";
      $("#h-net").dataset.online = String(n.online);
    }
    powerBanner(s.power || {});
    Object.entries(s.devices || {}).forEach(([name, d]) => { devWatch[name] = d.health; });
    if (!$("#device-banner").dataset.from || $("#device-banner").dataset.from === "status") deviceBanner(null, "status");
  });
  /* sync progress: queue rows change state live ------------------------------------------------- */
  on("sync.*", (d, topic) => {
    const row = d && d.packet_id && document.querySelector('#queue-table tr[data-packet="' + d.packet_id + '"]');
    if (!row) return;
    const kind = topic.slice(5);
    const state = { progress: "uploading", done: "acknowledged", failed: "sealed", rejected: "rejected" }[kind];
    if (!state) return;
    const cell = row.querySelector(".q-state");
    cell.textContent = "";
    const span = document.createElement("span");
    span.className = "state " + state; span.dataset.state = state; span.textContent = t("state_" + state);
    cell.appendChild(span);
    const why = kind === "failed" ? t("last_error") + " " + (d.error || "") : kind === "rejected" ? (d.reason || "") : "";
    if (why) { const e = document.createElement("div"); e.className = "err"; e.textContent = why; cell.appendChild(e); }
    if (kind === "progress" && d.size_bytes) span.textContent += " " + Math.min(100, Math.round(100 * d.offset / d.size_bytes)) + "%";
  });
  /* power: mains lost (from the power-loss pin's edge, within a second or two) and low battery -------- */
  function powerBanner(p) {
    const b = $("#power-banner");
    if (!b) return;
    let text = "";
    if (p.level === "shutdown") text = t("power_shutdown");
    else if (p.level === "stop") text = t("power_stop");
    else if (p.on_mains === false) text = t("mains_lost") + (p.level === "warn" ? " " + t("power_warn") : "");
    if (text && p.on_mains === false && p.minutes_left !== null && p.minutes_left !== undefined && p.level !== "shutdown")
      text += " " + t("minutes_left").replace("{m}", p.minutes_left);
    $("#power-banner-text").textContent = text;
    b.classList.toggle("hidden", !text);
    const severe = p.level === "stop" || p.level === "shutdown";
    b.classList.toggle("bad", severe); b.classList.toggle("warn", !severe);
    b.dataset.level = p.level || "";
    b.dataset.onMains = String(p.on_mains);
  }
  function errorBanner(key) {  // a capture failed for a reason that is not the cable (storage full, ...)
    const b = $("#device-banner");
    $("#device-banner-text").textContent = t("error_" + (key || "internal"));
    b.classList.remove("hidden"); b.dataset.from = "capture"; b.dataset.device = "";
  }
  function deviceBanner(device, from) {
    const b = $("#device-banner");
    const need = { photo: "camera", fingers: "fingerprint", signature: "signature_pad" }[body.dataset.page];
    let show = device;
    if (!show && from === "status" && need && devWatch[need] && devWatch[need] !== "ok") show = need;
    if (show) { $("#device-banner-text").textContent = t("device_missing_" + show); b.classList.remove("hidden"); b.dataset.from = from; b.dataset.device = show; }
    else { b.classList.add("hidden"); b.dataset.from = ""; }
  }

  /* idle logout: touches count as activity; the server decides ---------------------------------- */
  const idleS = parseInt(body.dataset.idleS || "0", 10);
  if (idleS > 0) {
    let last = Date.now(), lastPing = Date.now();
    const pingEveryMs = Math.max(1000, Math.min(30000, idleS * 1000 / 3));
    const activity = () => {
      last = Date.now();
      if (Date.now() - lastPing > pingEveryMs) { lastPing = Date.now(); post("/api/ping"); }
    };
    document.addEventListener("pointerdown", activity);
    // A resident at the sensor, the camera or the pad is activity too: a capture must not be logged out mid-way.
    const mine = (d) => body.dataset.draft && d && d.draft_id === body.dataset.draft;
    on("capture.*", (d) => { if (mine(d)) activity(); });
    on("pen.*", (d) => { if (mine(d)) activity(); });
    setInterval(() => { if (Date.now() - last > (idleS + 2) * 1000) window.location.reload(); }, 5000);
  }

  /* simulator drawer ------------------------------------------------------------------------------- */
  const simToggle = $("#sim-toggle");
  const simPanel = $("#sim-panel:not(.standalone)");
  if (simPanel && sessionStorage.getItem("jemput-sim") === "open") simPanel.classList.remove("hidden");
  if (simToggle) simToggle.addEventListener("click", () => {
    if (!simPanel) { window.location.href = "/sim"; return; }
    simPanel.classList.toggle("hidden");
    sessionStorage.setItem("jemput-sim", simPanel.classList.contains("hidden") ? "closed" : "open");
  });
  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-sim]");
    if (!b) return;
    b.disabled = true;
    post("/sim/" + b.dataset.sim, { arg: b.dataset.arg || "" }).finally(() => { b.disabled = false; });
  });

  /* photo ------------------------------------------------------------------------------------------- */
  const live = $("#photo-live");
  if (live) {
    const img = $("#preview");
    const labels = JSON.parse($("#check-labels").textContent);
    window.addEventListener("load", () => { img.src = live.dataset.stream; });
    const pics = $("#hint-pics"), words = $("#photo-words");
    const word = (k) => { const n = words.content.querySelector('[data-k="' + k + '"]'); return n ? n.textContent : k; };
    let cameraOff = false;
    on("capture.photo", (d) => {
      if (d.draft_id !== live.dataset.draft) return;
      if (d.state === "error") { errorBanner(d.error); return; }
      if (d.state === "device_missing") {
        deviceBanner("camera", "capture");
        if (!cameraOff) {  // no frozen frame, no stale checks while the camera is away
          cameraOff = true;
          img.removeAttribute("src"); img.classList.add("hidden"); $("#camera-off").classList.remove("hidden");
          $("#hints").textContent = ""; $("#hints-passed").textContent = ""; $("#guide").classList.remove("pass");
        }
        return;
      }
      deviceBanner(null, "capture");
      if (cameraOff && d.state !== "captured") {
        cameraOff = false;
        img.classList.remove("hidden"); $("#camera-off").classList.add("hidden");
        img.src = live.dataset.stream + "?t=" + Date.now();
      }
      if (d.state === "captured") {
        img.removeAttribute("src");
        $("#captured").src = live.dataset.captured + "?t=" + Date.now();
        live.classList.add("hidden");
        $("#photo-done").classList.remove("hidden");
        $("#retake-form").classList.remove("hidden");
        $("#photo-next").classList.remove("hidden");
        return;
      }
      if (!d.checks) return;
      $("#guide").classList.toggle("pass", !!d.passed);
      // Failing checks as pictures, the first (the one that matters most) biggest; one per distinct hint.
      const ul = $("#hints");
      ul.textContent = "";
      const failing = d.checks.filter((c) => !c.passed);
      const seen = new Set();
      const shown = failing.filter((c) => { const k = c.hint_key || c.name; if (seen.has(k)) return false; seen.add(k); return true; });
      shown.slice(0, 3).forEach((c, i) => {
        const li = document.createElement("li");
        li.className = "fail" + (i === 0 ? " main" : "");
        li.dataset.check = c.name;
        const pic = pics.content.querySelector('[data-hint="' + c.hint_key + '"]');
        if (pic) li.appendChild(pic.cloneNode(true));
        const span = document.createElement("span");
        span.textContent = (lang === "en" ? c.hint_en : c.hint_id) || labels[c.name] || c.name;
        li.appendChild(span);
        ul.appendChild(li);
      });
      const passed = d.checks.length - failing.length;
      let note = "✓ " + word("passed").replace("{n}", passed).replace("{m}", d.checks.length);
      if (shown.length > 3) note += " · " + word("more").replace("{n}", shown.length - 3);
      $("#hints-passed").textContent = note;
    });
  }

  /* fingers ------------------------------------------------------------------------------------------ */
  const fingers = $("#fingers");
  if (fingers) {
    const msgs = JSON.parse($("#finger-msgs").textContent);
    const setState = (cls, text, state) => {
      const s = $("#finger-state");
      s.className = "finger-state " + cls; s.dataset.state = state || cls; $("#finger-msg").textContent = text;
    };
    on("capture.finger", (d) => {
      if (d.draft_id !== fingers.dataset.draft) return;
      if (d.state === "device_missing") { deviceBanner("fingerprint", "capture"); setState("bad", msgs.device_missing, "device_missing"); return; }
      deviceBanner(null, "capture");
      if (d.attempt) $("#finger-attempt").textContent = msgs.attempt.replace("{a}", d.attempt).replace("{m}", d.max_attempts);
      const m = $("#finger-meter");
      if (d.state === "reading") {  // the finger is seen: say "hold" now; the bar is the image coming in
        const pct = Math.round(100 * (d.progress || 0));
        m.className = "w" + Math.min(100, Math.floor(pct / 10) * 10) + " reading";
        m.parentElement.dataset.progress = String(pct);
        setState("reading", msgs.hold + " " + msgs.reading + " " + pct + "%", "reading");
        return;
      }
      if (d.state === "lifted_early") { m.className = "w0"; m.parentElement.dataset.progress = "0"; setState("retry", msgs.lifted, "lifted_early"); return; }
      if (d.score !== undefined) {
        m.className = "w" + Math.min(100, Math.round(d.score / 10) * 10) + (d.state === "retry" ? " low" : "");
      }
      if (d.state === "waiting" && d.last_score !== null && d.last_score !== undefined) setState("retry", msgs.retry.replace("{score}", d.last_score) + " " + msgs.place, "waiting");
      else if (d.state === "waiting") { m.className = "w0"; setState("waiting", msgs.place); }
      else if (d.state === "retry") {
        const hints = (lang === "en" ? d.hints_en : d.hints_id) || [];
        setState("retry", msgs.retry.replace("{score}", d.score) + " " + (hints.length ? hints[0] + "." : msgs.wipe) + " " + msgs.lift);
      }
      else if (d.state === "accepted") { setState("ok", d.forced ? msgs.forced : msgs.ok, "accepted"); setTimeout(() => window.location.reload(), 300); }
      else if (d.state === "complete") window.location.reload();
      else if (d.state === "error") setState("bad", t("error_" + (d.error || "internal")), "error");
    });
  }

  /* signature: live ink ---------------------------------------------------------------------------- */
  const canvas = $("#sigpad");
  if (canvas) {
    const ctx = canvas.getContext("2d");
    ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";
    let prev = null, count = 0;
    const draw = (pts) => {
      pts.forEach(([x, y, down]) => {
        const px = x * (canvas.width - 1), py = y * (canvas.height - 1);
        if (down && prev) { ctx.beginPath(); ctx.moveTo(prev[0], prev[1]); ctx.lineTo(px, py); ctx.stroke(); }
        prev = down ? [px, py] : null;
        count += 1;
      });
      canvas.dataset.points = count;
    };
    // Ink so far comes from the station once the live stream is open (so nothing falls between the two).
    on("sse.open", () => {
      fetch(canvas.dataset.points, { credentials: "same-origin" }).then((r) => r.json()).then((j) => {
        ctx.clearRect(0, 0, canvas.width, canvas.height); prev = null; count = 0; draw(j.points);
      });
    });
    on("pen.points", (d) => {
      if (d.draft_id !== canvas.dataset.draft) return;
      draw(d.points);
      const w = $("#sig-words"); $("#sig-state").textContent = w ? w.content.querySelector('[data-k="writing"]').textContent : "";
      document.querySelectorAll("main .flash").forEach((f) => f.classList.add("hidden"));  // old warning: the pen is writing now
    });
    on("pen.clear", (d) => { if (d.draft_id === canvas.dataset.draft) { ctx.clearRect(0, 0, canvas.width, canvas.height); prev = null; count = 0; } });
    on("capture.signature", (d) => {
      if (d.draft_id !== canvas.dataset.draft) return;
      if (d.state === "error") { errorBanner(d.error); return; }
      deviceBanner(d.state === "device_missing" ? "signature_pad" : null, "capture");
    });
  }

  /* done screen: the record live (sealed -> sending -> received) and the slip ---------------------- */
  const done = $("#done");
  if (done) {
    const packet = done.dataset.packet;
    const order = ["sealed", "sending", "received"];
    const show = (state) => {
      done.dataset.record = state;
      const at = order.indexOf(state);
      // sealed: first step done; sending: the second is under way; received: all done
      $$("#record-track li").forEach((li, i) => {
        li.classList.toggle("done", at >= 0 && (i < at || i === at && state !== "sending"));
        li.classList.toggle("now", state === "sending" && i === 1);
      });
      $("#record-rejected").classList.toggle("hidden", state !== "rejected");
    };
    show(done.dataset.record);
    on("sync.*", (d, topic) => {
      if (!d || d.packet_id !== packet) return;
      const state = { progress: "sending", done: "received", rejected: "rejected" }[topic.slice(5)];
      if (state && !(done.dataset.record === "received" && state === "sending")) show(state);
    });
    const panel = $("#slip-panel");
    const slip = (ok, problem) => {
      if (!panel) return;
      panel.dataset.printing = "0"; panel.dataset.ok = ok ? "1" : "0"; panel.dataset.problem = problem || "";
      $("#slip-msg").textContent = ok ? t("slip_printed") : t("slip_" + (problem || "offline"));
      $("#slip-print").classList.toggle("warn", !ok);
    };
    on("slip.printed", (d) => { if (d.packet_id === packet) slip(true, ""); });
    on("slip.failed", (d) => { if (d.packet_id === packet) slip(false, d.problem); });
    // catch up once the live stream is open (an event may have come before it), then now and then as a fallback
    const refresh = () => {
      fetch(done.dataset.stateUrl, { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null).then((j) => {
        if (!j) return;
        if (j.record !== done.dataset.record) show(j.record);
        if (panel && j.slip && !j.printing && panel.dataset.printing === "1") slip(j.slip.ok, j.slip.problem);
      }).catch(() => {});
    };
    on("sse.open", refresh);
    setInterval(refresh, 3000);
  }

  connect();
})();
