// Talking to the daemon. A page opened as /?token=SECRET keeps the token for
// this browser (localStorage) and takes it out of the address bar, so a copied
// link never carries it; every API call sends it as a Bearer header, and image
// and event URLs (which cannot carry headers) as ?token=.
"use strict";
window.PX = window.PX || {};

PX.api = (function () {
  var KEY = "pximse-token";
  var token = "";
  var params = new URLSearchParams(window.location.search);
  if (params.has("token")) {
    token = params.get("token") || "";
    try { window.localStorage.setItem(KEY, token); } catch (e) { /* private mode */ }
    params.delete("token");
    var rest = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
  } else {
    try { token = window.localStorage.getItem(KEY) || ""; } catch (e) { token = ""; }
  }

  function withToken(url) {
    if (!token) return url;
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  // An error the daemon answered: its message, and for a query, the position.
  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.message = this.body.message || this.body.detail ||
      (status ? "the daemon answered " + status : "the daemon cannot be reached");
    if (typeof this.message !== "string") this.message = JSON.stringify(this.message);
  }

  function call(method, url, body) {
    var headers = { "Accept": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    var options = { method: method, headers: headers };
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

  return {
    get: function (url) { return call("GET", url); },
    post: function (url, body) { return call("POST", url, body); },
    withToken: withToken,
    hasToken: function () { return !!token; },
    thumbnail: function (id) { return withToken("/api/images/" + id + "/thumbnail"); },
    file: function (id) { return withToken("/api/images/" + id + "/file"); },
    ApiError: ApiError,
  };
})();
