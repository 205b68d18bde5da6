// Console behaviour: account filtering and live preview on the compose form, live delivery rows (SSE).
// Vanilla JS, no external code; all text goes into the page through textContent (no HTML injection),
// except delivery rows, which the server renders with Jinja's autoescaping.
"use strict";

(function () {
  const main = document.getElementById("main");
  const csrf = main ? main.dataset.csrf || "" : "";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // -- compose -----------------------------------------------------------------------------
  function filterAccounts(form) {
    const municipality = form.elements.municipality.value;
    const category = form.elements.category.value;
    let shown = 0;
    form.querySelectorAll("p.account").forEach((row) => {
      const ok = row.dataset.municipality === municipality &&
        (!category || row.dataset.categories.split(" ").includes(category));
      row.hidden = !ok;
      const box = row.querySelector("input");
      if (!ok) box.checked = false;
      shown += ok ? 1 : 0;
    });
    document.getElementById("accounts-empty").hidden = shown > 0;
  }

  function formFields(form) {
    // A file chosen but not sent yet has no id: the preview names it by a placeholder (it opens no file).
    const kept = (name, drop) => {
      const input = form.elements[name];
      const dropped = form.elements[drop] && form.elements[drop].checked;
      return input && !dropped ? input.value : "";
    };
    const item = (kind, file, id, placeholder, alt) => {
      if (file && file.files.length) return { kind: kind, path: placeholder, alt_text: alt };
      return id ? { kind: kind, id: id, alt_text: alt } : null;
    };
    const media = [];
    for (let i = 0; form.elements["image_alt_" + i]; i++) {
      const alt = form.elements["image_alt_" + i].value || null;
      const image = item("image", form.elements["image_file_" + i], kept("image_id_" + i, "image_drop_" + i),
        "upload-" + (i + 1), alt);
      if (image) media.push(image);
    }
    const video = item("video", form.elements.video_file, kept("video_id", "video_drop"), "upload-video", null);
    if (video) media.push(video);
    const accounts = Array.from(form.querySelectorAll("input[name=accounts]:checked")).map((b) => b.value);
    const value = (name) => (form.elements[name] ? form.elements[name].value : "");
    return {
      municipality: value("municipality"), category: value("category"), text: value("text"),
      title: value("title"), link: value("link"), not_before: value("not_before"),
      correction_of: value("correction_of"), accounts: accounts, media: media,
      priority: value("priority"), emergency_reason: value("emergency_reason"), preauthorized: value("preauthorized"),
      "text_ja-easy": value("text_ja-easy"), text_en: value("text_en"),
    };
  }

  function renderFindings(box, data) {
    box.replaceChildren();
    const verdict = { pass: "問題は見つかりませんでした", review: "承認者の確認が必要な指摘があります",
      block: "このままでは投稿できません（禁止の指摘があります）" }[data.verdict];
    box.append(el("p", { class: "verdict verdict-" + data.verdict }, verdict));
    if (!data.findings.length) return;
    const marked = el("div", { class: "marked", lang: "ja" });
    data.segments.forEach((s) => {
      if (s.finding === null) { marked.append(document.createTextNode(s.text)); return; }
      marked.append(el("mark", { class: "finding", "data-finding": s.finding, title: "指摘 " + (s.finding + 1) }, s.text));
    });
    box.append(marked);
    const list = el("ol", { class: "findings" });
    data.findings.forEach((f) => {
      const item = el("li", { class: "sev-" + f.severity });
      item.append(el("span", { class: "badge" }, f.severity === "block" ? "禁止" : "要確認"), " " + f.message + " ");
      item.append(el("cite", {}, f.clause));
      if (f.account) item.append("（" + f.account + "）");
      list.append(item);
    });
    box.append(list);
  }

  function renderPost(post) {
    const card = el("article", { class: "post platform-" + post.platform, "aria-label": post.account });
    const languages = (post.languages || []).length ? " " + post.languages.join("・") : "";
    card.setAttribute("data-language", post.language || "ja");
    card.append(el("h3", {}, post.account + "（" + post.handle + "）" + languages));
    if (post.error) { card.append(el("p", { class: "error" }, post.error)); return card; }
    if (post.skip_reason) card.append(el("p", { class: "hint" }, "送信されません: " + post.skip_reason));
    (post.counts || []).forEach((c) => {
      const over = c.max !== null && c.value > c.max;
      card.append(el("p", { class: "count" + (over ? " over" : ""), "data-label": c.label },
        c.label + ": " + c.value + (c.max !== null ? " / " + c.max : "") + (over ? "（上限超過）" : "")));
    });
    if (post.over) card.append(el("p", { class: "error" }, "上限を超えているため送信できません（途中で切って送ることはしません）。"));
    if (post.title) card.append(el("p", { class: "title" }, "タイトル: " + post.title));
    post.parts.forEach((part) => {
      if (part.text) card.append(el("pre", { class: "part" }, part.text));
      part.media.forEach((m) => card.append(el("p", { class: "media" },
        (m.kind === "video" ? "動画: " : "画像: ") + m.label + (m.alt_text ? "（代替テキスト: " + m.alt_text + "）" : ""))));
    });
    (post.problems || []).forEach((p) => card.append(el("p", { class: "error" }, p)));
    return card;
  }

  function renderProblems(box, body) {
    box.replaceChildren(el("p", { class: "hint" }, body.message || "入力を確認してください"));
    const list = el("ul", {});
    (body.problems || []).forEach((p) => list.append(el("li", {}, p.field + ": " + p.message)));
    box.append(list);
  }

  // While the preview says 禁止 the post cannot be sent: the button says why instead of failing later.
  function blockSubmit(form, blocked) {
    const button = document.getElementById("submit");
    const why = document.getElementById("submit-blocked");
    if (!button || !why) return;
    button.disabled = blocked;
    why.hidden = !blocked;
  }

  function setupCompose(form) {
    const findings = document.getElementById("findings-live");
    const posts = document.getElementById("posts");
    let timer = null;
    let seq = 0;
    async function refresh() {
      const fields = formFields(form);
      if (!fields.municipality || !fields.category || !fields.text.trim()) return;
      const mine = ++seq;
      const response = await fetch("/console/compose/preview", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(fields),
      });
      const body = await response.json();
      if (mine !== seq) return;  // a newer request is on its way
      if (!response.ok) { renderProblems(findings, body); posts.replaceChildren(); blockSubmit(form, false); return; }
      renderFindings(findings, body);
      posts.replaceChildren(...body.posts.map(renderPost));
      blockSubmit(form, body.verdict === "block");
      form.dataset.previewed = String(mine);
    }
    const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, 300); };
    form.addEventListener("input", schedule);
    form.addEventListener("change", (event) => {
      if (event.target.name === "municipality" || event.target.name === "category") filterAccounts(form);
      schedule();
    });
    filterAccounts(form);
    schedule();
  }

  // -- deliveries (Server-Sent Events) --------------------------------------------------------
  function placeRow(tbody, row, emergency) {
    const old = document.getElementById(row.id);
    if (old) { old.replaceWith(row); return; }
    const pinned = tbody.querySelectorAll("tr.emergency");
    const anchor = emergency ? tbody.firstElementChild : (pinned.length ? pinned[pinned.length - 1].nextElementSibling : tbody.firstElementChild);
    tbody.insertBefore(row, anchor);
    const none = document.getElementById("no-rows");
    if (none) none.remove();
  }

  function setupLive(status) {
    const tbody = document.getElementById("rows");
    const source = new EventSource(status.dataset.events);
    source.addEventListener("open", () => { status.textContent = "自動更新: 接続中（変更はすぐに反映されます）"; });
    source.addEventListener("error", () => { status.textContent = "自動更新: 再接続しています…"; });
    source.addEventListener("row", (event) => {
      const data = JSON.parse(event.data);
      const holder = document.createElement("tbody");
      holder.innerHTML = data.html;  // server-rendered and autoescaped
      const row = holder.firstElementChild;
      if (row) placeRow(tbody, row, data.emergency);
    });
    source.addEventListener("total", (event) => {  // 「全 N 件」 follows the rows that arrive or leave
      const shown = document.querySelector("p.total");
      if (!shown) return;
      const holder = document.createElement("div");
      holder.innerHTML = JSON.parse(event.data).html;  // server-rendered and autoescaped
      if (holder.firstElementChild) shown.replaceWith(holder.firstElementChild);
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // Destructive or final actions ask first (取消, 承認する); rows added live are covered too.
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("compose");
    if (form) setupCompose(form);
    const live = document.getElementById("live");
    if (live) setupLive(live);
    document.querySelectorAll("a[data-back]").forEach((a) => a.addEventListener("click", (event) => {
      if (history.length > 1) { event.preventDefault(); history.back(); }
    }));
  });
})();
