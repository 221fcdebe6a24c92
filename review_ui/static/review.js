// axial review UI: keyboard shortcuts over plain forms. Every action also has a button,
// and every form works without this file. No inline scripts (CSP: script-src 'self').
(function () {
  "use strict";

  const body = document.body;
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));
  let current = -1;

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    const tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
    if (tag !== "INPUT") return false;
    return !["checkbox", "radio", "button", "submit"].includes(el.type);
  }

  function items() {
    const notes = $$("[data-note]");
    return notes.length ? notes : $$("[data-row]");
  }

  function focusItem(index) {
    const list = items();
    if (!list.length) return;
    current = Math.max(0, Math.min(list.length - 1, index));
    list.forEach((el, i) => el.classList.toggle("current", i === current));
    list[current].scrollIntoView({ block: "nearest" });
  }

  function currentItem() {
    const list = items();
    return current >= 0 && current < list.length ? list[current] : null;
  }

  function submit(id) {
    const form = document.getElementById(id);
    if (form) form.requestSubmit();
    return Boolean(form);
  }

  function closePanels() {
    $$(".panel").forEach((p) => { p.hidden = true; });
    body.classList.remove("splitting");
  }

  function openPanel(id) {
    const panel = document.getElementById(id);
    if (!panel) return false;
    closePanels();
    panel.hidden = false;
    if (id === "split-form") {
      body.classList.add("splitting");
      if (current < 0) focusItem(0);
      return true;
    }
    const field = panel.querySelector("input:not([type=hidden]), select, textarea");
    if (field) {
      field.focus();
      if (field.select && field.tagName === "INPUT") field.select();
    }
    return true;
  }

  function follow(key) {
    const link = document.querySelector(`a[data-key="${key}"]`);
    if (link) window.location.href = link.href;
    return Boolean(link);
  }

  function toggleSelect() {
    const box = currentItem() && currentItem().querySelector("input.pick");
    if (box) box.checked = !box.checked;
    return Boolean(box);
  }

  function selectCurrentIfNone() {
    if (!$$("input.pick:checked").length) toggleSelect();
  }

  function openCurrent() {
    const item = currentItem();
    if (!item || item.hasAttribute("data-note")) return false; // notes: links are traces
    const link = item.querySelector("a[data-open]") || item.querySelector("a");
    if (link) window.location.href = link.href;
    return Boolean(link);
  }

  function setGroup(n) {
    const item = currentItem();
    const select = item && item.querySelector("select.group");
    if (!select) return false;
    select.value = String(n);
    focusItem(current + 1);
    return true;
  }

  function toggleHelp() {
    const help = $("#help");
    if (help) help.hidden = !help.hidden;
    return true;
  }

  const splitting = () => body.classList.contains("splitting");

  const shortcuts = {
    c: () => submit("confirm-form"),
    x: () => submit("reject-form"),
    u: () => submit("undo-form"),
    l: () => submit("claim-form"),
    r: () => openPanel("rename-panel"),
    s: () => openPanel("split-form"),
    m: () => openPanel("merge-panel"),
    v: () => { if (!$("#move-form")) return false; selectCurrentIfNone(); return openPanel("move-form"); },
    a: () => { if (!$("#assign-form")) return false; selectCurrentIfNone(); const s = $("#assign-to"); if (s) s.focus(); return true; },
    t: () => { const name = $("#new-category-name"); if (!name) return false; selectCurrentIfNone(); name.focus(); return true; },
    g: () => splitting() && follow("g"),
    j: () => { focusItem(current + 1); return true; },
    k: () => { focusItem(current - 1); return true; },
    n: () => follow("n"),
    p: () => follow("p"),
    o: () => openCurrent(),
    " ": () => toggleSelect(),
    "?": () => toggleHelp(),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (event.key === "Escape") {
      closePanels();
      const help = $("#help");
      if (help) help.hidden = true;
      if (target && target.blur) target.blur();
      return;
    }
    if (isTyping(target)) {
      if (event.key === "Enter" && target.id === "new-category-name" && target.form) {
        event.preventDefault(); // the new-category button, not the form's first (assign)
        target.form.requestSubmit($("#new-category-button"));
        return;
      }
      if (event.key === "Enter" && target.tagName === "SELECT" && target.form) {
        event.preventDefault();
        target.form.requestSubmit();
      }
      return;
    }
    if (event.key === "Enter") {
      if (splitting()) { event.preventDefault(); submit("split-form"); return; }
      if (target && (target.tagName === "A" || target.tagName === "BUTTON")) return;
      if (currentItem() && openCurrent()) event.preventDefault();
      return;
    }
    if (splitting() && /^[1-9]$/.test(event.key)) {
      if (setGroup(Number(event.key))) event.preventDefault();
      return;
    }
    const action = shortcuts[event.key];
    if (action && action()) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const opener = event.target.closest && event.target.closest("[data-panel]");
    if (opener) {
      const id = opener.getAttribute("data-panel");
      openPanel(id);
    }
    if (event.target.closest && event.target.closest("[data-help-toggle]")) toggleHelp();
  });

  if (window.location.hash === "#split") openPanel("split-form");
})();
