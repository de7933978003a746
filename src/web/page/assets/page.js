// Manage API Tokens: the page's only script (served as /static/page.js,
// embedded in apitokend-web). No framework, no build step. It calls the
// front's own JSON functions (/json-api/<fn>) with the session cookie and
// the session's CSRF token; the daemon decides everything.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const NAME_RE = /^[A-Za-z0-9_-]{1,50}$/;
  const MAX_IPS = 100;
  const FIELD_OF_ERROR = {
    invalid_name: "token-name-error",
    name_exists: "token-name-error",
    invalid_acl: "privileges-error",
    invalid_ip: "token-ips-error",
    invalid_expiry: "expires-error",
  };

  document.addEventListener("DOMContentLoaded", () => {
    const ticket = $("ticket-form");
    if (ticket && ticket.dataset.auto) {
      // Keep the one-time link out of the history, then use it.
      history.replaceState(null, "", "/login");
      ticket.submit();
      return;
    }
    const data = $("page-data");
    if (data) {
      start(JSON.parse(data.textContent));
    }
  });

  function start(D) {
    let tokens = {};
    let editing = null; // the name of the token being edited, or null
    let editingExpiry = null; // its expiry as the form showed it
    let toastTimer = null;

    const pad = (n) => String(n).padStart(2, "0");
    // MM DD YYYY hh:mm:ss, as WHM's table shows times.
    function fmt(t) {
      const d = new Date(t * 1000);
      return `${pad(d.getMonth() + 1)} ${pad(d.getDate())} ${d.getFullYear()} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    }
    function isoDay(d) {
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    }
    function el(tag, text, cls) {
      const e = document.createElement(tag);
      if (text !== undefined && text !== null) e.textContent = text;
      if (cls) e.className = cls;
      return e;
    }
    function ok(reply) {
      return reply && reply.metadata && reply.metadata.result === 1;
    }

    function toast(text, isError) {
      const t = $("toast");
      t.textContent = text;
      t.className = isError ? "toast error" : "toast";
      t.hidden = false;
      clearTimeout(toastTimer);
      toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
    }

    async function api(fn, params) {
      const body = new URLSearchParams();
      body.append("api.version", "1");
      if (D.owner !== D.user) body.append("user", D.owner);
      for (const [k, v] of params) body.append(k, v);
      let r;
      try {
        r = await fetch("/json-api/" + fn, {
          method: "POST",
          headers: { "X-CSRF-Token": D.csrf },
          body,
          credentials: "same-origin",
          cache: "no-store",
        });
      } catch (e) {
        return { metadata: { result: 0, reason: "The server cannot be reached." } };
      }
      if (r.status === 401) {
        location.assign("/login");
        return { metadata: { result: 0, reason: "Your session has ended." } };
      }
      try {
        return await r.json();
      } catch (e) {
        return { metadata: { result: 0, reason: `The server answered HTTP ${r.status}.` } };
      }
    }

    // ---- the table ----

    function notice(kind) {
      const s = el("span", null, "notice-icon " + kind);
      s.setAttribute("role", "img");
      const label = kind === "expired" ? "Expired" : "Expires soon";
      s.setAttribute("aria-label", label);
      s.title = label;
      return s;
    }

    function cell(label, content) {
      const td = el("td");
      td.dataset.label = label;
      if (typeof content === "string") td.textContent = content;
      else if (content) td.append(...content);
      return td;
    }

    function render() {
      const tbody = $("tokens");
      tbody.replaceChildren();
      const q = $("search").value.trim().toLowerCase();
      const names = Object.keys(tokens).sort((a, b) =>
        (tokens[b].create_time - tokens[a].create_time) || a.localeCompare(b));
      let shown = 0;
      for (const name of names) {
        if (q && !name.toLowerCase().includes(q)) continue;
        shown++;
        const t = tokens[name];
        const tr = el("tr");
        tr.dataset.name = name;
        if (t.expired) tr.className = "expired";
        else if (t.expires_soon) tr.className = "expiring";
        const exp = [];
        if (t.expired) exp.push(notice("expired"));
        else if (t.expires_soon) exp.push(notice("soon"));
        exp.push(document.createTextNode(t.expires_at ? fmt(t.expires_at) : "Never"));
        const ips = t.whitelist_ips && t.whitelist_ips.length ? t.whitelist_ips.join(", ") : "Any";
        const used = t.last_used_at
          ? `${fmt(t.last_used_at)}${t.last_used_ip ? " from " + t.last_used_ip : ""}`
          : "Never";
        const edit = el("button", "Edit", "link");
        edit.type = "button";
        edit.setAttribute("aria-label", `Edit ${name}`);
        edit.addEventListener("click", () => openForm(name));
        const revoke = el("button", "Revoke", "link danger");
        revoke.type = "button";
        revoke.setAttribute("aria-label", `Revoke ${name}`);
        revoke.addEventListener("click", () => revokeOne(name, revoke));
        tr.append(
          cell("Name", [el("span", name, "token-name")]),
          cell("Created", fmt(t.create_time)),
          cell("Expires", exp),
          cell("IPs", ips),
          cell("Last used", used),
          cell("Actions", [edit, document.createTextNode(" "), revoke]),
        );
        tbody.append(tr);
      }
      if (!shown) {
        const tr = el("tr", null, "empty");
        const td = el("td", names.length ? "No API tokens match your search." : "There are no API tokens.");
        td.colSpan = 6;
        tr.append(td);
        tbody.append(tr);
      }
      $("list-status").textContent = q
        ? `${shown} of ${names.length} API tokens match.`
        : `${names.length} API token${names.length === 1 ? "" : "s"}.`;
    }

    async function load() {
      const reply = await api("api_token_list", []);
      if (!ok(reply)) {
        $("list-status").textContent = reply.metadata.reason;
        return false;
      }
      tokens = (reply.data && reply.data.tokens) || {};
      render();
      return true;
    }

    // ---- confirmation ----

    function confirmAction(text) {
      const dlg = $("confirm");
      $("confirm-text").textContent = text;
      return new Promise((resolve) => {
        const done = (answer) => {
          $("confirm-ok").removeEventListener("click", yes);
          $("confirm-cancel").removeEventListener("click", no);
          dlg.removeEventListener("cancel", no);
          if (dlg.open) dlg.close();
          resolve(answer);
        };
        const yes = () => done(true);
        const no = (e) => { if (e) e.preventDefault(); done(false); };
        $("confirm-ok").addEventListener("click", yes);
        $("confirm-cancel").addEventListener("click", no);
        dlg.addEventListener("cancel", no);
        dlg.showModal();
        $("confirm-cancel").focus();
      });
    }

    async function revokeOne(name, from) {
      if (!await confirmAction(`Revoke the API token “${name}”? Any script or account that uses it will stop working.`)) {
        from.focus();
        return;
      }
      const reply = await api("api_token_revoke", [["token_name", name]]);
      if (ok(reply)) toast(`The API token “${name}” was revoked.`);
      else toast(reply.metadata.reason, true);
      await load();
      $("generate-open").focus();
    }

    async function revokeAll() {
      closeMenu();
      const n = Object.keys(tokens).length;
      if (!await confirmAction(`Revoke all ${n} API tokens of ${D.owner}? Every script or account that uses them will stop working.`)) {
        $("gear").focus();
        return;
      }
      const reply = await api("api_token_revoke_all", []);
      if (ok(reply)) toast(`Revoked ${reply.data ? reply.data.revoked : 0} API tokens.`);
      else toast(reply.metadata.reason, true);
      await load();
      $("gear").focus();
    }

    // ---- the gear menu ----

    function closeMenu() {
      $("gear-menu").hidden = true;
      $("gear").setAttribute("aria-expanded", "false");
    }
    $("gear").addEventListener("click", () => {
      const menu = $("gear-menu");
      const open = menu.hidden;
      menu.hidden = !open;
      $("gear").setAttribute("aria-expanded", String(open));
      if (open) $("refresh-list").focus();
    });
    $("gear-menu").addEventListener("keydown", (e) => {
      const items = [$("refresh-list"), $("revoke-all")];
      const i = items.indexOf(document.activeElement);
      if (e.key === "Escape") { closeMenu(); $("gear").focus(); }
      else if (e.key === "ArrowDown") { e.preventDefault(); items[(i + 1) % items.length].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); items[(i + items.length - 1) % items.length].focus(); }
    });
    document.addEventListener("click", (e) => {
      if (!e.target.closest(".gear-wrap")) closeMenu();
    });
    $("refresh-list").addEventListener("click", async () => {
      closeMenu();
      if (await load()) toast("The list was refreshed.");
      $("gear").focus();
    });
    $("revoke-all").addEventListener("click", revokeAll);
    $("search").addEventListener("input", render);

    // ---- the Generate / Edit form ----

    const boxes = () => Array.from(document.querySelectorAll(".acl-box"));

    function clearErrors() {
      for (const id of ["token-name-error", "expires-error", "token-ips-error", "privileges-error", "form-error"]) {
        $(id).textContent = "";
      }
      $("token-name").removeAttribute("aria-invalid");
    }

    function nameProblem() {
      const v = $("token-name").value;
      if (v === "") return "Enter a name for the API token.";
      if (v.length > 50) return "The name can be at most 50 characters long.";
      if (!NAME_RE.test(v)) return "The name can contain only letters (a-z, A-Z), numbers (0-9), dashes (-) and underscores (_).";
      if (tokens[v] && v !== editing) return "An API token with this name already exists.";
      return "";
    }

    function refreshForm() {
      const problem = nameProblem();
      const touched = $("token-name").dataset.touched === "1";
      $("token-name-error").textContent = touched ? problem : "";
      if (touched && problem) $("token-name").setAttribute("aria-invalid", "true");
      else $("token-name").removeAttribute("aria-invalid");
      const ticked = boxes().some((b) => b.checked);
      $("privileges-error").textContent = ticked ? "" : "Select at least one privilege.";
      $("form-submit").disabled = !ticked || problem !== "";
      $("expiry-date-row").hidden = !$("expires-date-choice").checked;
    }

    function openForm(name) {
      clearErrors();
      editing = name;
      const t = name ? tokens[name] : null;
      $("form-title").textContent = t ? `Edit API Token “${name}”` : "Generate API Token";
      $("form-submit").textContent = t ? "Save" : "Generate";
      $("token-name").value = t ? name : "";
      $("token-name").dataset.touched = t ? "1" : "0";
      const inAYear = new Date(D.now * 1000);
      inAYear.setFullYear(inAYear.getFullYear() + 1);
      if (t && t.expires_at) {
        $("expires-date-choice").checked = true;
        $("expires-date").value = isoDay(new Date(t.expires_at * 1000));
      } else if (t) {
        $("expires-never").checked = true;
        $("expires-date").value = isoDay(inAYear);
      } else {
        $("expires-date-choice").checked = true;
        $("expires-date").value = isoDay(inAYear);
      }
      editingExpiry = t ? expiryValue() : null;
      $("token-ips").value = t && t.whitelist_ips ? t.whitelist_ips.join("\n") : "";
      for (const b of boxes()) {
        b.checked = t ? (t.acls && t.acls[b.value] === 1) : true;
      }
      $("form-section").hidden = false;
      $("generated").hidden = true;
      refreshForm();
      $("token-name").focus();
    }

    function closeForm() {
      $("form-section").hidden = true;
      editing = null;
      $("generate-open").focus();
    }

    function expiryValue() {
      return $("expires-never").checked ? "never" : $("expires-date").value;
    }

    function ipLines() {
      return $("token-ips").value.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "");
    }

    async function submitForm(e) {
      e.preventDefault();
      clearErrors();
      $("token-name").dataset.touched = "1";
      refreshForm();
      if ($("form-submit").disabled) return;
      const ips = ipLines();
      if (ips.length > MAX_IPS) {
        $("token-ips-error").textContent = `Enter at most ${MAX_IPS} addresses or ranges.`;
        $("token-ips").focus();
        return;
      }
      const expiry = expiryValue();
      if (expiry !== "never" && !/^\d{4}-\d{2}-\d{2}$/.test(expiry)) {
        $("expires-error").textContent = "Enter the expiration date as YYYY-MM-DD.";
        $("expires-date").focus();
        return;
      }
      const params = [];
      const name = $("token-name").value;
      if (editing) {
        params.push(["token_name", editing]);
        if (name !== editing) params.push(["new_name", name]);
      } else {
        params.push(["token_name", name]);
      }
      boxes().filter((b) => b.checked).forEach((b, i) => params.push([`acl-${i + 1}`, b.value]));
      if (ips.length) ips.forEach((ip, i) => params.push([`whitelist_ip-${i + 1}`, ip]));
      else if (editing) params.push(["whitelist_ip", "any"]);
      if (!editing || expiry !== editingExpiry) {
        if (!(editing === null && expiry === "never")) params.push(["expires_date", expiry]);
      }
      $("form-submit").disabled = true;
      const reply = await api(editing ? "api_token_update" : "api_token_create", params);
      $("form-submit").disabled = false;
      if (!ok(reply)) {
        const field = FIELD_OF_ERROR[reply.metadata.error] || "form-error";
        $(field).textContent = reply.metadata.reason;
        if (field === "token-name-error") $("token-name").setAttribute("aria-invalid", "true");
        return;
      }
      if (editing) {
        toast(`The API token “${name}” was updated.`);
        closeForm();
        await load();
        return;
      }
      $("form-section").hidden = true;
      editing = null;
      showToken(reply.data);
    }

    function showToken(d) {
      $("generated-name").textContent = d.name;
      $("generated-expires").textContent = d.expires_at ? fmt(d.expires_at) : "Never";
      $("generated-token").value = d.token;
      d.token = "";
      $("generated").hidden = false;
      $("generated-token").focus();
      $("generated-token").select();
    }

    $("copy-token").addEventListener("click", async () => {
      const input = $("generated-token");
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (e) {
        input.select();
        document.execCommand("copy");
      }
      toast("The token was copied to the clipboard.");
    });
    $("saved-token").addEventListener("click", async () => {
      $("generated-token").value = "";
      $("generated-name").textContent = "";
      $("generated-expires").textContent = "";
      $("generated").hidden = true;
      await load();
      $("generate-open").focus();
    });

    $("generate-open").addEventListener("click", () => openForm(null));
    $("form-cancel").addEventListener("click", closeForm);
    $("token-form").addEventListener("submit", submitForm);
    $("token-name").addEventListener("input", () => {
      $("token-name").dataset.touched = "1";
      refreshForm();
    });
    for (const id of ["expires-never", "expires-date-choice"]) {
      $(id).addEventListener("change", refreshForm);
    }
    $("acl-all").addEventListener("click", () => { boxes().forEach((b) => { b.checked = true; }); refreshForm(); });
    $("acl-none").addEventListener("click", () => { boxes().forEach((b) => { b.checked = false; }); refreshForm(); });
    for (const b of boxes()) b.addEventListener("change", refreshForm);

    const owner = $("owner");
    if (owner) owner.addEventListener("change", () => $("owner-form").submit());

    load();
  }
})();
