// Talking to the daemon. With server.token set, the page signs in once and the
// daemon keeps it signed in with an HttpOnly, SameSite=Strict cookie: no script
// can read it, no other site's page sends it, and no URL ever carries the token
// (it would stay in the browser's history). The page signs in from a one-time
// link (/?login=CODE, which the tray opens; the code is taken out of the address
// bar at once) or from the sign-in form it shows when the daemon answers 401.
"use strict";
window.PX = window.PX || {};

PX.api = (function () {
  var OLD_KEY = "pximse-token";  // where an older page kept the token

  // An error the daemon answered: its message, and for a query, the position.
  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.message = this.body.message || this.body.detail ||
      (status ? "the daemon answered " + status : "the daemon cannot be reached");
    if (typeof this.message !== "string") this.message = JSON.stringify(this.message);
  }

  function send(method, url, body) {
    var headers = { "Accept": "application/json" };
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { message: text }; }
        if (!response.ok) throw new ApiError(response.status, parsed);
        return parsed;
      });
    }, function () {
      throw new ApiError(0, null);
    });
  }

  // -- signing in -----------------------------------------------------------------

  function takeFromAddress() {
    var params = new URLSearchParams(window.location.search);
    var code = params.get("login") || "";
    if (params.has("login") || params.has("token")) {
      params.delete("login");
      params.delete("token");  // an old link's token: never used, never kept in view
      var rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
    }
    return code;
  }

  function oldToken() {
    var token = "";
    try {
      token = window.localStorage.getItem(OLD_KEY) || "";
      window.localStorage.removeItem(OLD_KEY);
    } catch (e) { /* private mode */ }
    return token;
  }

  var ready = (function () {
    var code = takeFromAddress();
    var token = oldToken();
    if (!code && !token) return Promise.resolve();
    return send("POST", "/api/session", code ? { code: code } : { token: token })
      .catch(function () { /* the form asks, if the daemon needs a token */ });
  })();

  var signInShown = false;
  function askToSignIn() {
    var dialog = document.getElementById("signin");
    if (!dialog || signInShown) return;
    signInShown = true;
    dialog.hidden = false;
    var input = document.getElementById("signin-token");
    var problem = document.getElementById("signin-error");
    input.focus();
    document.getElementById("signin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      problem.hidden = true;
      send("POST", "/api/session", { token: input.value }).then(function () {
        window.location.reload();
      }, function (err) {
        problem.textContent = err.message;
        problem.hidden = false;
        input.select();
      });
    });
  }

  function call(method, url, body) {
    return ready.then(function () { return send(method, url, body); }).catch(function (err) {
      if (err instanceof ApiError && err.status === 401) askToSignIn();
      throw err;
    });
  }

  return {
    get: function (url) { return call("GET", url); },
    post: function (url, body) { return call("POST", url, body); },
    ready: ready,
    thumbnail: function (id) { return "/api/images/" + id + "/thumbnail"; },
    file: function (id) { return "/api/images/" + id + "/file"; },
    ApiError: ApiError,
  };
})();
