// quotaswarm live dashboard: polls the sibling `stats` route (the broker's Stats as
// JSON), keeps the last 15 minutes of samples in this tab, and draws everything with
// plain DOM and SVG. No library, no build step, nothing fetched from another origin.
//
// Rates are computed from counter deltas over the broker's own clock (`uptime_secs`),
// not the browser's, so a throttled background tab or a slow poll does not distort them.
// Stable hooks for tests: #app[data-ready][data-samples], #completed[data-value],
// #app[data-width] (the width it last drew at), [data-lane=MODEL] with
// [data-completions], [data-circuit], [data-bucket].
"use strict";

(function () {
  const WINDOW_SECS = 15 * 60;
  // Rates are averaged over this trailing span of samples, to smooth polling jitter.
  const RATE_SECS = 15;
  const params = new URLSearchParams(location.search);
  const POLL_MS = Math.max(250, Number(params.get("every")) || 1000);

  let ring = []; // samples, oldest first
  let last = null; // the latest Stats
  const laneCards = new Map(); // model -> card elements

  // ---------- tiny DOM helpers ----------
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    for (const k of kids.flat()) {
      if (k !== null && k !== undefined) el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    setAttrs(el, attrs);
    for (const k of kids.flat()) {
      if (k !== null && k !== undefined) el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.setAttribute("class", v);
      else if (k === "width%") el.style.width = v + "%"; // CSSOM: allowed by the CSP
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  const $ = (id) => document.getElementById(id);

  // ---------- formatting ----------
  function num(n) {
    if (!Number.isFinite(n)) return "–";
    const a = Math.abs(n);
    // One decimal below 100 of a unit (12.5k), none above (250k); no trailing ".0".
    const unit = (d, suffix) => (n / d).toFixed(a / d >= 100 ? 0 : 1).replace(/\.0$/, "") + suffix;
    if (a >= 1e9) return unit(1e9, "G");
    if (a >= 1e6) return unit(1e6, "M");
    if (a >= 1e3) return unit(1e3, "k");
    if (a >= 100 || Number.isInteger(n)) return n.toFixed(0);
    if (a < 0.1) return String(Number(n.toPrecision(2))); // shares: 0.005, not 0.01
    return n.toFixed(a >= 10 ? 1 : 2);
  }
  function int(n) {
    return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
  }
  function usd(n) {
    if (!Number.isFinite(n)) return "–";
    const a = Math.abs(n);
    const digits = a === 0 ? 2 : a < 0.01 ? 5 : a < 1 ? 4 : a < 100 ? 2 : 0;
    return (n < 0 ? "−$" : "$") + a.toFixed(digits);
  }
  function pct(share) {
    if (!Number.isFinite(share)) return "–";
    const p = share * 100;
    return (p > 0 && p < 0.1 ? p.toFixed(2) : p < 10 ? p.toFixed(1) : p.toFixed(0)) + "%";
  }
  function dur(secs) {
    if (secs === null || secs === undefined || !Number.isFinite(secs)) return "–";
    const t = Math.max(0, Math.round(secs));
    if (t < 60) return t + " s";
    if (t < 3600) return Math.floor(t / 60) + " m " + (t % 60) + " s";
    return Math.floor(t / 3600) + " h " + Math.floor((t % 3600) / 60) + " m";
  }
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const bucketName = {
    requests: "requests",
    input_tokens: "input tokens",
    output_tokens: "output tokens",
    tokens: "tokens",
  };

  // ---------- samples ----------
  // Input tokens that counted against the lane's input limit: uncached, written and read,
  // less the reads that Anthropic does not count.
  function countedInput(l) {
    return (
      (l.input_tokens || 0) +
      (l.cache_write_tokens || 0) +
      (l.cache_read_tokens || 0) -
      (l.cache_saved_tokens || 0)
    );
  }

  function sample(st) {
    const lanes = {};
    for (const l of st.lanes || []) {
      lanes[l.model] = {
        completions: l.completions,
        requests: l.requests,
        input: countedInput(l),
        output: l.output_tokens,
        r429: l.rate_limited,
        retries: l.retries,
        queue: l.queue_depth,
        inflight: l.in_flight,
        cost: l.cost_usd,
      };
    }
    return {
      t: st.uptime_secs,
      completed: st.completed,
      requests: sum((st.lanes || []).map((l) => l.requests)),
      merged: st.merged,
      retries: st.retries,
      fallbacks: sum(Object.values(st.fallbacks || {})),
      r429: st.rate_limited,
      queue: st.queue_depth,
      inflight: st.in_flight,
      mailbox: st.mailbox_depth,
      cost: st.cost_usd,
      lanes,
    };
  }

  function ingest(st) {
    const smp = sample(st);
    // A restarted broker (uptime went back) starts a new history.
    if (ring.length && smp.t < ring[ring.length - 1].t) ring = [];
    if (ring.length && smp.t === ring[ring.length - 1].t) ring.pop();
    ring.push(smp);
    const oldest = smp.t - WINDOW_SECS - RATE_SECS;
    while (ring.length > 2 && ring[0].t < oldest) ring.shift();
  }

  // Per-minute rate of the counter `get` at each sample, over the trailing RATE_SECS.
  function rate(get) {
    const pts = [];
    let j = 0;
    for (let i = 1; i < ring.length; i++) {
      while (j < i - 1 && ring[j + 1].t <= ring[i].t - RATE_SECS) j++;
      const a = ring[j];
      const b = ring[i];
      const va = get(a);
      const vb = get(b);
      const dt = b.t - a.t;
      // Not over less than 2 s: the first polls would turn one burst into a spike.
      if (dt >= 2 && va !== undefined && vb !== undefined) {
        pts.push([b.t, Math.max(0, ((vb - va) / dt) * 60)]);
      }
    }
    return pts;
  }
  function gauge(get) {
    return ring.map((x) => [x.t, get(x)]).filter((p) => p[1] !== undefined);
  }
  const lane = (m, k) => (x) => (x.lanes[m] ? x.lanes[m][k] : undefined);

  // ---------- charts ----------
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // One chart: `series` = [{label, cls, pts, unit}], optional `limit` (a dashed line).
  function chart(slot, title, series, opts) {
    opts = opts || {};
    const W = Math.max(220, Math.floor(slot.clientWidth || 300));
    const H = opts.height || 110;
    const padL = 38;
    const padR = 6;
    const padT = 8;
    const padB = 16;
    const t1 = ring.length ? ring[ring.length - 1].t : 0;
    const t0 = Math.max(ring.length ? ring[0].t : 0, t1 - WINDOW_SECS);
    const span = Math.max(1, t1 - t0);
    let ymax = 0;
    for (const se of series) for (const p of se.pts) if (p[0] >= t0) ymax = Math.max(ymax, p[1]);
    if (opts.limit > 0) ymax = Math.max(ymax, opts.limit);
    ymax = niceMax(ymax * 1.05);
    const x = (t) => padL + ((t - t0) / span) * (W - padL - padR);
    const y = (v) => padT + (1 - v / ymax) * (H - padT - padB);

    const svg = s("svg", {
      viewBox: `0 0 ${W} ${H}`,
      width: W,
      height: H,
      role: "img",
      "aria-label": title,
    });
    for (const f of [0, 0.5, 1]) {
      const yy = y(ymax * f);
      svg.append(s("line", { class: "grid", x1: padL, x2: W - padR, y1: yy, y2: yy }));
      svg.append(s("text", { class: "tick", x: padL - 4, y: yy + 3, "text-anchor": "end" }, num(ymax * f)));
    }
    svg.append(s("text", { class: "tick", x: padL, y: H - 3 }, "−" + dur(span)));
    svg.append(s("text", { class: "tick", x: W - padR, y: H - 3, "text-anchor": "end" }, "now"));
    if (opts.limit > 0) {
      const yy = y(opts.limit);
      svg.append(s("line", { class: "limit", x1: padL, x2: W - padR, y1: yy, y2: yy }));
      svg.append(
        s("text", { class: "tick limit-label", x: W - padR - 2, y: yy - 3, "text-anchor": "end" }, "limit " + num(opts.limit))
      );
    }
    for (const se of series) {
      const pts = se.pts.filter((p) => p[0] >= t0);
      if (!pts.length) continue;
      if (pts.length === 1) {
        svg.append(s("circle", { class: "line " + se.cls, cx: x(pts[0][0]), cy: y(pts[0][1]), r: 2.5 }));
        continue;
      }
      const d = pts.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join("");
      if (opts.area) {
        const base = y(0).toFixed(1);
        svg.append(
          s("path", {
            class: "area " + se.cls,
            d: d + `L${x(pts[pts.length - 1][0]).toFixed(1)} ${base}L${x(pts[0][0]).toFixed(1)} ${base}Z`,
          })
        );
      }
      svg.append(s("path", { class: "line " + se.cls, d }));
    }
    const legend = series.map((se) => {
      const latest = se.pts.length ? se.pts[se.pts.length - 1][1] : NaN;
      return h("span", { class: "key" }, h("i", { class: "swatch " + se.cls }), se.label + " ", h("b", {}, (se.fmt || num)(latest)));
    });
    slot.replaceChildren(h("figcaption", {}, h("span", { class: "title" }, title), h("span", { class: "legend" }, legend)), svg);
  }

  function slot(parent, key) {
    let el = parent.querySelector(`:scope > [data-chart="${key}"]`);
    if (!el) {
      el = h("figure", { class: "chart", "data-chart": key });
      parent.append(el);
    }
    return el;
  }

  // ---------- panels ----------
  function renderHeader(st) {
    $("uptime").textContent = "up " + dur(st.uptime_secs);
    const store = st.quota_store || "memory";
    $("store").textContent =
      "quota " + store + (store === "redis" ? ` · ${st.quota_processes || 1} processes` : "");
  }

  function tile(id, label, value, sub, attrs) {
    return h("div", Object.assign({ class: "tile", id }, attrs || {}), h("span", { class: "label" }, label), h("span", { class: "value" }, value), h("span", { class: "sub" }, sub || ""));
  }

  function renderTotals(st) {
    const burn = st.cost_burn_usd_per_min || 0;
    const fallbacks = sum(Object.values(st.fallbacks || {}));
    const tiles = [
      tile("completed", "completed", int(st.completed), `${int(st.requests)} requests · ${int(st.failed)} failed`, { "data-value": st.completed }),
      tile("in-flight", "in flight", int(st.in_flight), `queued ${int(st.queue_depth)}`, { "data-value": st.in_flight }),
      tile("mailbox", "broker mailbox", int(st.mailbox_depth), `p99 ${st.handling_p99_us >= 1000 ? num(st.handling_p99_us / 1000) + " ms" : num(st.handling_p99_us) + " µs"} / message`, { "data-value": st.mailbox_depth }),
      tile("rate-limited", "429s", int(st.rate_limited), `${int(st.rate_limited_last_minute)} last min · ${pct(st.rate_limited_share)} of 1 h`, {
        "data-value": st.rate_limited,
        class: "tile" + (st.rate_limited_last_minute > 0 ? " warn" : ""),
      }),
      tile("retries", "retries", int(st.retries), `backoff p95 ${num(st.backoff_wait_p95_secs)} s`, { "data-value": st.retries }),
      tile("fallbacks", "fallbacks", int(fallbacks), `${int(st.fallback_answers)} answered lower`, { "data-value": fallbacks }),
      tile("merged", "merged", int(st.merged), `${num(st.merged_tokens_saved)} tokens saved` + (st.reused ? ` · ${int(st.reused)} reused` : ""), { "data-value": st.merged }),
      tile("tokens", "tokens", num((st.input_tokens || 0) + (st.output_tokens || 0) + (st.cache_read_tokens || 0) + (st.cache_write_tokens || 0)), `in ${num(st.input_tokens)} · out ${num(st.output_tokens)}`, { "data-value": (st.input_tokens || 0) + (st.output_tokens || 0) }),
      tile("cost", "cost", usd(st.cost_usd), `${usd(burn)}/min · ${usd(burn * 60)}/h`, { "data-value": st.cost_usd }),
      tile("cache", "cache hits", pct(st.cache_hit_share || 0), `saved ${usd(st.cache_saved_usd || 0)}`, { "data-value": st.cache_hit_share || 0 }),
    ];
    $("totals").replaceChildren(...tiles);
  }

  function renderAlerts(st) {
    const items = [];
    const alerts = Array.isArray(st.alerts) ? st.alerts : [];
    for (const a of alerts) {
      if (typeof a === "string") {
        items.push(h("li", { class: "alert warning", "data-alert": "text" }, a));
        continue;
      }
      const sev = String(a.severity || "warning").toLowerCase();
      const what = [a.kind, a.lane].filter(Boolean).join(" · ");
      const figures =
        a.value !== undefined && a.threshold !== undefined ? ` — ${num(Number(a.value))} over ${num(Number(a.threshold))}` : "";
      const since = a.since_secs ?? a.started_secs_ago ?? a.age_secs;
      items.push(
        h(
          "li",
          { class: "alert " + sev, "data-alert": a.kind || "alert", "data-lane": null, "data-alert-lane": a.lane || null },
          h("span", { class: "sev" }, sev),
          h("b", {}, what || "alert"),
          figures,
          a.message ? h("span", { class: "msg" }, " " + a.message) : null,
          a.advice ? h("span", { class: "msg" }, " " + a.advice) : null,
          since !== undefined ? h("span", { class: "msg" }, ` (for ${dur(Number(since))})`) : null
        )
      );
    }
    // The broker's own alerts cover these two; derive them only from an older broker.
    const has = (kind, lane) => alerts.some((a) => a && a.kind === kind && (lane === undefined || a.lane === lane));
    if (st.quota_store_degraded && !has("quota_store_degraded")) {
      items.push(
        h("li", { class: "alert critical", "data-alert": "quota_store_degraded" }, h("span", { class: "sev" }, "critical"), h("b", {}, "quota store unreachable"), " — admitting with this process's local share")
      );
    }
    for (const l of st.lanes || []) {
      if (l.circuit === "open" && !has("circuit_open", l.model)) {
        items.push(
          h("li", { class: "alert critical", "data-alert": "circuit_open" }, h("span", { class: "sev" }, "critical"), h("b", {}, `circuit open · ${l.model}`), " — nothing is sent to this lane; ladders fall through to the next rung")
        );
      } else if (l.circuit === "half_open") {
        items.push(
          h("li", { class: "alert warning", "data-alert": "circuit_half_open" }, h("span", { class: "sev" }, "warning"), h("b", {}, `circuit half-open · ${l.model}`), " — one probe request decides whether it closes")
        );
      }
    }
    for (const a of st.advice || []) {
      items.push(h("li", { class: "alert advice", "data-alert": "advice" }, h("span", { class: "sev" }, "advice"), a));
    }
    if (!items.length) items.push(h("li", { class: "quiet", "data-alert": "none" }, "All clear: no alerts and no advice."));
    $("alerts").dataset.count = String(items.length - (items[0].dataset.alert === "none" ? 1 : 0));
    $("alert-list").replaceChildren(...items);
  }

  function renderBrokerCharts() {
    const box = $("broker-charts");
    chart(slot(box, "completions"), "Completions /min", [
      { label: "completed", cls: "c1", pts: rate((x) => x.completed) },
      { label: "attempts", cls: "c2", pts: rate((x) => x.requests) },
    ], { area: true });
    chart(slot(box, "trouble"), "429s and retries /min", [
      { label: "429s", cls: "bad", pts: rate((x) => x.r429) },
      { label: "retries", cls: "c3", pts: rate((x) => x.retries) },
    ]);
    chart(slot(box, "savers"), "Fallbacks and merges /min", [
      { label: "fallbacks", cls: "c4", pts: rate((x) => x.fallbacks) },
      { label: "merges", cls: "c5", pts: rate((x) => x.merged) },
    ]);
    chart(slot(box, "depth"), "Queue, in flight, mailbox", [
      { label: "queued", cls: "c2", pts: gauge((x) => x.queue) },
      { label: "in flight", cls: "c1", pts: gauge((x) => x.inflight) },
      { label: "mailbox", cls: "c4", pts: gauge((x) => x.mailbox) },
    ]);
    chart(slot(box, "cost"), "Cost burn $/min", [
      { label: "burn", cls: "c5", pts: rate((x) => x.cost), fmt: usd },
    ], { area: true });
  }

  function laneCard(model) {
    let card = laneCards.get(model);
    if (card) return card;
    const head = h("header", { class: "lane-head" });
    const buckets = h("div", { class: "buckets" });
    const figures = h("div", { class: "figures" });
    const charts = h("div", { class: "charts lane-charts" });
    const root = h("article", { class: "panel lane", id: "lane-" + model, "data-lane": model }, head, buckets, figures, charts);
    $("lanes").append(root);
    card = { root, head, buckets, figures, charts };
    laneCards.set(model, card);
    return card;
  }

  function renderBucket(b) {
    const head = Math.max(0, Math.min(100, b.headroom_pct));
    const level = head < 15 ? "low" : head < 40 ? "mid" : "ok";
    const tte = b.time_to_exhaustion_secs;
    return h(
      "div",
      { class: "bucket", "data-bucket": b.bucket, "data-headroom": head.toFixed(1) },
      h("span", { class: "bname" }, bucketName[b.bucket] || b.bucket),
      h("span", { class: "meter " + level }, h("span", { class: "fill", "width%": head.toFixed(1) })),
      h("span", { class: "bval" }, `${head.toFixed(0)}%`),
      h(
        "span",
        { class: "bfoot" },
        h("span", { class: "bsub" }, `${num(Math.max(0, b.level))} of ${num(b.capacity)} · limit ${num(b.limit_per_min)}/min`),
        h(
          "span",
          { class: "tte" + (tte !== null && tte !== undefined && tte < 60 ? " soon" : ""), "data-tte": tte ?? "" },
          b.level <= 0 ? "empty, refilling" : tte === null || tte === undefined ? "not draining" : "dry in " + dur(tte)
        )
      )
    );
  }

  function fig(label, value, attrs) {
    return h("div", Object.assign({ class: "fig" }, attrs || {}), h("span", { class: "label" }, label), h("b", {}, value));
  }

  function renderLane(l) {
    const card = laneCard(l.model);
    card.root.dataset.completions = String(l.completions);
    card.root.dataset.circuit = l.circuit;
    const badges = [h("span", { class: "badge circuit " + l.circuit, "data-circuit": l.circuit }, "circuit " + String(l.circuit).replace("_", "-"))];
    if (l.paused_for_secs > 0) {
      const p = l.paused_for_secs;
      badges.push(h("span", { class: "badge paused" }, "paused after 429 · " + (p < 10 ? p.toFixed(1) + " s" : dur(p))));
    }
    if (!l.priced) badges.push(h("span", { class: "badge muted" }, "no prices"));
    card.head.replaceChildren(
      h("h3", {}, l.model, h("span", { class: "sub" }, l.provider_model)),
      h("span", { class: "badges" }, badges)
    );
    card.buckets.replaceChildren(...(l.buckets || []).map(renderBucket));
    card.figures.replaceChildren(
      fig("completions", int(l.completions), { class: "fig completions", "data-completions": l.completions }),
      fig("attempts /min", int(l.requests_last_minute)),
      fig("queued", int(l.queue_depth), { "data-queue": l.queue_depth }),
      fig("in flight", int(l.in_flight), { "data-in-flight": l.in_flight }),
      fig("429s 1 min / 1 h", `${int(l.rate_limited_last_minute)} / ${int(l.rate_limited_last_hour)}`, l.rate_limited_last_minute > 0 ? { class: "fig warn" } : null),
      fig("retries", int(l.retries)),
      fig("queue wait p95", num(l.queue_wait_p95_secs) + " s"),
      fig("cost", usd(l.cost_usd)),
      fig("burn", usd(l.cost_burn_usd_per_min) + "/min"),
      fig("cache hits", pct(l.cache_hit_share || 0))
    );
    const m = l.model;
    const limitOf = (kind) => {
      const b = (l.buckets || []).find((x) => x.bucket === kind);
      return b ? b.limit_per_min : 0;
    };
    chart(slot(card.charts, "completions"), "Completions /min", [
      { label: "completions", cls: "c1", pts: rate(lane(m, "completions")) },
      { label: "attempts", cls: "c2", pts: rate(lane(m, "requests")) },
    ], { limit: limitOf("requests"), area: true });
    if (limitOf("tokens") > 0) {
      chart(slot(card.charts, "tokens"), "Tokens /min", [
        { label: "input", cls: "c3", pts: rate(lane(m, "input")) },
        { label: "output", cls: "c4", pts: rate(lane(m, "output")) },
        { label: "total", cls: "c5", pts: rate((x) => (x.lanes[m] ? x.lanes[m].input + x.lanes[m].output : undefined)) },
      ], { limit: limitOf("tokens") });
    } else {
      chart(slot(card.charts, "input"), "Input tokens /min", [{ label: "input", cls: "c3", pts: rate(lane(m, "input")) }], { limit: limitOf("input_tokens"), area: true });
      chart(slot(card.charts, "output"), "Output tokens /min", [{ label: "output", cls: "c4", pts: rate(lane(m, "output")) }], { limit: limitOf("output_tokens"), area: true });
    }
    chart(slot(card.charts, "trouble"), "429s and retries /min", [
      { label: "429s", cls: "bad", pts: rate(lane(m, "r429")) },
      { label: "retries", cls: "c3", pts: rate(lane(m, "retries")) },
    ]);
  }

  function renderCosts(st) {
    const rows = (st.lanes || []).map((l) =>
      h(
        "tr",
        { "data-cost-lane": l.model },
        h("td", {}, l.model),
        h("td", {}, l.priced ? usd(l.cost_usd) : "no prices"),
        h("td", {}, usd(l.cost_burn_usd_per_min)),
        h("td", {}, usd(l.cost_burn_usd_per_min * 60)),
        h("td", {}, usd(l.wasted_usd)),
        h("td", {}, pct(l.cache_hit_share || 0)),
        h("td", {}, usd(l.cache_saved_usd || 0))
      )
    );
    rows.push(
      h(
        "tr",
        { class: "total" },
        h("td", {}, "all"),
        h("td", {}, usd(st.cost_usd)),
        h("td", {}, usd(st.cost_burn_usd_per_min)),
        h("td", {}, usd(st.cost_burn_usd_per_min * 60)),
        h("td", {}, usd(st.wasted_usd)),
        h("td", {}, pct(st.cache_hit_share || 0)),
        h("td", {}, usd(st.cache_saved_usd || 0))
      )
    );
    $("costs").tBodies[0].replaceChildren(...rows);
  }

  function render() {
    const st = last;
    if (!st) return;
    renderHeader(st);
    renderAlerts(st);
    renderTotals(st);
    renderBrokerCharts();
    const models = new Set();
    for (const l of st.lanes || []) {
      models.add(l.model);
      renderLane(l);
    }
    for (const [m, card] of laneCards) {
      if (!models.has(m)) {
        card.root.remove();
        laneCards.delete(m);
      }
    }
    renderCosts(st);
    const span = ring.length ? ring[ring.length - 1].t - ring[0].t : 0;
    $("span-label").textContent = span < WINDOW_SECS - 1 ? `last ${dur(span)} of 15 minutes` : "last 15 minutes";
    const app = $("app");
    app.dataset.samples = String(ring.length);
    app.dataset.width = String(window.innerWidth);
    app.dataset.ready = "true";
  }

  function setConn(state, text) {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = text;
  }

  async function poll() {
    try {
      const r = await fetch("stats", { cache: "no-store", headers: { accept: "application/json" } });
      if (!r.ok) throw new Error("HTTP " + r.status + (r.status === 503 ? ": the broker has stopped" : ""));
      last = await r.json();
      ingest(last);
      setConn("live", "live");
      render();
    } catch (e) {
      setConn("down", "no answer from /stats: " + (e && e.message ? e.message : e));
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });
  poll();
})();
