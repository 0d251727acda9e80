// API reference pages: Swagger UI "try it" and code snippets, filled with a test key that lives
// only in this browser (localStorage). Tollgate shows a raw key once and never stores it.
"use strict";

(() => {
  const panel = document.getElementById("try-it");
  const storageKey = () => `tollgate.testKey.${panel?.dataset.account || "default"}`;
  const placeholder = panel?.dataset.placeholder || "YOUR_TEST_KEY";
  const testKeyShape = /^[A-Za-z0-9]+_test_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}$/;

  const storedKey = () => (panel ? localStorage.getItem(storageKey()) : null);

  function showError(message) {
    const box = document.getElementById("try-it-error");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("hidden", !message);
  }

  function fillSnippets(key) {
    for (const code of document.querySelectorAll("code.key-snippet, #step-export, #step-call")) {
      code.dataset.template ??= code.textContent;
      code.textContent = code.dataset.template.replaceAll(placeholder, key || placeholder);
    }
  }

  function render() {
    const key = storedKey();
    const shown = document.getElementById("try-it-key");
    if (shown) shown.textContent = key || "no key yet";
    document.getElementById("forget-test-key")?.classList.toggle("hidden", !key);
    fillSnippets(key);
    if (key && window.tollgateSwagger) {
      window.tollgateSwagger.preauthorizeApiKey?.("bearerAuth", key);
    }
  }

  function remember(key) {
    localStorage.setItem(storageKey(), key);
    showError("");
    render();
  }

  async function createKey(button) {
    button.disabled = true;
    try {
      const response = await fetch(panel.dataset.createUrl, {
        method: "POST",
        headers: { "X-CSRFToken": panel.dataset.csrf, Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.detail || "Could not create a key.");
      remember(body.key);
      document.getElementById("new-key-notice")?.classList.remove("hidden");
    } catch (error) {
      showError(error.message);
    } finally {
      button.disabled = false;
    }
  }

  document.getElementById("create-test-key")?.addEventListener("click", (e) => createKey(e.target));
  document.getElementById("forget-test-key")?.addEventListener("click", () => {
    localStorage.removeItem(storageKey());
    render();
  });
  document.getElementById("paste-key-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = document.getElementById("paste-key").value.trim();
    if (!testKeyShape.test(value)) {
      showError("That is not a test key (tg_test_…). Live keys are not used on this page.");
      return;
    }
    remember(value);
  });

  // Language tabs: each operation shows one snippet at a time (all of them without script).
  for (const group of document.querySelectorAll(".snippets")) {
    const snippets = [...group.querySelectorAll(":scope > .snippet")];
    if (snippets.length < 2) continue;
    const tabs = document.createElement("div");
    tabs.className = "snippet-tabs";
    tabs.setAttribute("role", "tablist");
    const buttons = snippets.map((snippet, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "snippet-tab";
      button.setAttribute("role", "tab");
      button.textContent = snippet.querySelector(".snippet-head span")?.textContent || `#${index + 1}`;
      button.addEventListener("click", () => show(index));
      tabs.append(button);
      return button;
    });
    function show(chosen) {
      snippets.forEach((snippet, index) => snippet.classList.toggle("hidden", index !== chosen));
      buttons.forEach((button, index) => button.setAttribute("aria-selected", String(index === chosen)));
    }
    group.before(tabs);
    show(0);
  }

  const container = document.getElementById("swagger-ui");
  if (container && window.SwaggerUIBundle) {
    window.tollgateSwagger = window.SwaggerUIBundle({
      url: container.dataset.specUrl,
      domNode: container,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      tryItOutEnabled: true,
      deepLinking: true,
      // Every "try it" call carries the test key, whatever the spec's security schemes say.
      requestInterceptor: (request) => {
        const key = storedKey();
        const isSpec = request.url.endsWith("/openapi.json");
        if (key && !isSpec && !request.headers.Authorization) {
          request.headers.Authorization = `Bearer ${key}`;
        }
        return request;
      },
    });
  }
  render();
})();
