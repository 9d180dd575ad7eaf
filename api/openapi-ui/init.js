/* global window */
// Starts Swagger UI on the API's own document (same origin; no inline script, so helmet's CSP applies unchanged).
window.addEventListener('load', () => {
  window.ui = window.SwaggerUIBundle({
    url: '../openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
    plugins: [window.SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
    persistAuthorization: false,
  });
});
