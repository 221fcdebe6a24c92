// axial review UI: keyboard shortcuts over plain forms. Every action also has a button,
// and every form works without this file. No inline scripts (CSP: script-src 'self').
(function () {
  "use strict";

  const body = document.body;
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));
  let current = -1;
  const notes = $$("[data-note]"); // in page order, even while split groups regroup them
  const auditPage = body.classList.contains("audit-page");

  const splitting = () => body.classList.contains("splitting");

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    const tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
    if (tag !== "INPUT") return false;
    return !["checkbox", "radio", "button", "submit"].includes(el.type);
  }

  function items() {
    return notes.length ? notes : $$("[data-row]");
  }

  function markCurrent(index) {
    const list = items();
    current = index;
    list.forEach((el, i) => el.classList.toggle("current", i === current));
  }

  function focusItem(index) {
    const list = items();
    if (!list.length) return;
    markCurrent(Math.max(0, Math.min(list.length - 1, index)));
    list[current].scrollIntoView({ block: "nearest" });
    if (auditPage) focusField(list[current], ".label-name");
  }

  // Audit page: a note's field (its name, or its category list) takes the focus.
  function focusField(item, selector) {
    const field = item && item.querySelector(selector);
    if (!field) return false;
    field.focus();
    return true;
  }

  // Audit page on load: the note after the one just labelled (the URL's ?after=<note id>) that
  // still needs a label, else the first that does; after the reveal, simply the next note.
  function focusNextTodo() {
    if (!notes.length) return;
    const labelled = new URLSearchParams(window.location.search).get("after");
    const after = notes.findIndex((el) => el.getAttribute("data-note") === labelled);
    const order = notes.slice(after + 1).concat(notes.slice(0, after + 1));
    const todo = notes.some((el) => el.hasAttribute("data-todo"));
    const next = todo ? order.find((el) => el.hasAttribute("data-todo")) : (after >= 0 ? order[0] : null);
    if (next) focusItem(notes.indexOf(next));
  }

  function labelCurrent() {
    if (current < 0) focusNextTodo();
    return focusField(currentItem(), ".label-pick");
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
    if (splitting()) ungroup();
    body.classList.remove("splitting");
  }

  // Split view: the notes shown in one column per group, each with its colour and count.
  const groupOf = (li) => Number((li.querySelector("select.group") || {}).value || 1);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function showGroups() {
    const list = $("#notes");
    if (!list) return;
    let box = $("#split-groups");
    if (!box) {
      box = document.createElement("div");
      box.id = "split-groups";
      box.className = "split-groups";
      list.parentNode.insertBefore(box, list);
    }
    const byGroup = new Map();
    notes.forEach((li) => {
      const g = groupOf(li);
      if (!byGroup.has(g)) byGroup.set(g, []);
      byGroup.get(g).push(li);
    });
    const numbers = Array.from(byGroup.keys()).sort((a, b) => a - b);
    box.textContent = "";
    numbers.forEach((g) => {
      const section = document.createElement("section");
      section.className = `split-group group-${g}`;
      section.setAttribute("data-group", String(g));
      const heading = document.createElement("h3");
      heading.textContent = `Group ${g} · ${plural(byGroup.get(g).length, "note")}`;
      const ol = document.createElement("ol");
      ol.className = "notes";
      byGroup.get(g).forEach((li) => {
        li.className = li.className.replace(/\s*group-\d/g, "") + ` group-${g}`;
        ol.appendChild(li);
      });
      section.append(heading, ol);
      box.appendChild(section);
    });
    const summary = $("#split-summary");
    if (summary) {
      summary.textContent = numbers.length > 1
        ? `${plural(numbers.length, "group")}: ${numbers.map((g) => byGroup.get(g).length).join(" + ")} notes; each becomes its own proposal.`
        : `Every note is in group ${numbers[0]}: press another number on a note to start a second group.`;
    }
  }

  function ungroup() {
    const list = $("#notes");
    const box = $("#split-groups");
    if (!list || !box) return;
    notes.forEach((li) => {
      li.className = li.className.replace(/\s*group-\d/g, "");
      list.appendChild(li);
    });
    box.remove();
  }

  function openPanel(id) {
    const panel = document.getElementById(id);
    if (!panel) return false;
    closePanels();
    panel.hidden = false;
    if (id === "split-form") {
      body.classList.add("splitting");
      showGroups();
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
    showGroups();
    focusItem(current + 1);
    return true;
  }

  function toggleHelp() {
    const help = $("#help");
    if (help) help.hidden = !help.hidden;
    return true;
  }


  const shortcuts = {
    c: () => submit("confirm-form"),
    A: () => submit("accept-carry-overs-form"),
    x: () => submit("reject-form"),
    u: () => submit("undo-form"),
    l: () => submit("claim-form"),
    r: () => openPanel("rename-panel"),
    s: () => openPanel("split-form"),
    m: () => openPanel("merge-panel"),
    v: () => { if (!$("#move-form")) return false; selectCurrentIfNone(); return openPanel("move-form"); },
    a: () => {
      if (auditPage) return labelCurrent();
      if (!$("#assign-form")) return false;
      selectCurrentIfNone();
      const s = $("#assign-to");
      if (s) s.focus();
      return true;
    },
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

  // Tabbing into a note makes it the current one, so j/k go on from there.
  document.addEventListener("focusin", (event) => {
    const item = event.target.closest && event.target.closest("[data-note]");
    if (item && notes.includes(item)) markCurrent(notes.indexOf(item));
  });

  document.addEventListener("change", (event) => {
    if (splitting() && event.target.matches && event.target.matches("select.group")) showGroups();
  });

  if (window.location.hash === "#split") openPanel("split-form");
  if (auditPage) focusNextTodo();
})();
