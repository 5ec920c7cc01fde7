/**
 * The webhooks API (`/api/webhooks/`, staff only) as the webhook screen uses it, and the event
 * types a webhook can ask for, with the words the screen shows for them.
 */

import { api, withQuery } from "./api.js";

/** Every event a webhook can subscribe to, in the order the form lists them. */
export const EVENT_TYPES = [
  { type: "product.created", label: "Product created" },
  { type: "product.updated", label: "Product updated" },
  { type: "product.deleted", label: "Product deleted" },
  { type: "import.completed", label: "Import completed" },
  { type: "import.failed", label: "Import failed" },
  { type: "catalogue.cleared", label: "Catalogue cleared (delete all)" },
];

/** How many deliveries each webhook shows: enough to see a pattern of failures at a glance. */
export const SHOWN_DELIVERIES = 5;

const BASE = "/api/webhooks/";

export const webhooksApi = {
  list: () => api.get(withQuery(BASE, { page_size: 100 })),
  create: (data) => api.post(BASE, data),
  update: (id, data) => api.patch(`${BASE}${id}/`, data),
  remove: (id) => api.delete(`${BASE}${id}/`),
  test: (id) => api.post(`${BASE}${id}/test/`, {}),
  rotateSecret: (id) => api.post(`${BASE}${id}/rotate-secret/`, {}),
  deliveries: (id) => api.get(withQuery(`${BASE}${id}/deliveries/`, { page_size: SHOWN_DELIVERIES })),
};

/** The list's webhooks whether the server pages them (`{results}`) or not (a plain list). */
export function resultsOf(data) {
  if (Array.isArray(data)) return data;
  return (data && Array.isArray(data.results)) ? data.results : [];
}
