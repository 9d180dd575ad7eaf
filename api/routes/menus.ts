import type { Router } from 'express';
import { mountApi, type MountOptions } from '../mount';
import { Menu, MenuItemVersion, RestaurantsPage } from '../responses';
import { defineRoute, type Handlers, JsonText } from '../route';
import { InvalidInput, PreconditionRequired } from '../services/errors';
import type { MenuService } from '../services/menus';
import { CreateMenuItemRequest, idempotencyKeyHeader, ifMatchHeader, restaurantSearchQuery, UpdateMenuItemRequest } from '../validation';

// Menu queries (the read model) and commands (the source of truth): each definition is the route's
// contract (api/route.ts), its handler below calls one service function.

export const menuApi = {
  listRestaurants: defineRoute({
    method: 'get',
    path: '/restaurants',
    tag: 'Menus',
    summary: 'Restaurants, paged, optionally searched by name and filtered by category (read model)',
    description:
      'In `restaurantId` order, keyset-paged: follow `nextCursor` until it is null. A restaurant that exists throughout is listed exactly once ' +
      'even while others are added or renamed between pages (a rename shows on the page that lists it). `q` matches any part of the name, ' +
      'case-insensitively, in any script, from one character up (`q=치킨` finds "교촌치킨 강남점"); it is served by an index of the ' +
      "name's one- and two-character pieces, so Korean two-syllable words are found as fast as longer ones. Without `q` and `category` " +
      'this is the plain list it always was.',
    access: 'anyone',
    query: restaurantSearchQuery,
    responses: { 200: { description: 'One page', body: RestaurantsPage } },
  }),

  getMenu: defineRoute({
    method: 'get',
    path: '/restaurants/:restaurantId/menu',
    tag: 'Menus',
    summary: "A restaurant's menu (read model, fed by CDC; may be a moment behind)",
    description: 'Hidden items are shown only to that restaurant and to admins.',
    access: 'anyone',
    responses: { 200: { description: 'The menu', body: Menu } },
  }),

  createMenuItem: defineRoute({
    method: 'post',
    path: '/restaurants/:restaurantId/menu-items',
    tag: 'Menus',
    summary: 'Add a menu item',
    description: 'That restaurant or an admin. With an Idempotency-Key a retry returns the item made the first time (200).',
    access: { roles: ['restaurant', 'admin'], actsForRestaurant: true },
    headers: {
      idempotencyKey: {
        name: 'Idempotency-Key',
        schema: idempotencyKeyHeader,
        required: false,
        description: 'Optional: makes a retried create return the same item',
      },
    },
    body: { component: CreateMenuItemRequest },
    responses: {
      201: { description: 'Created', body: MenuItemVersion },
      200: { description: 'The item this Idempotency-Key already made', body: MenuItemVersion },
    },
    errors: [422],
  }),

  updateMenuItem: defineRoute({
    method: 'patch',
    path: '/restaurants/:restaurantId/menu-items/:menuId',
    tag: 'Menus',
    summary: 'Change a menu item (optimistic locking)',
    description: 'That restaurant or an admin. A stale version is 409 `VERSION_CONFLICT` with `details.current`, the item as it now stands.',
    access: { roles: ['restaurant', 'admin'], actsForRestaurant: true },
    headers: {
      version: {
        name: 'If-Match',
        schema: ifMatchHeader,
        required: true,
        description: 'The version read: `3`, `"3"` or `W/"3"`',
        missing: () => new PreconditionRequired('If-Match: <version> is required to change a menu item'),
        invalid: () => new InvalidInput('If-Match must be the item version, e.g. If-Match: 3'),
      },
    },
    body: { component: UpdateMenuItemRequest },
    responses: {
      200: { description: 'Changed', body: MenuItemVersion, headers: { ETag: { description: 'The new version, quoted', schema: { type: 'string' } } } },
    },
    errors: [409],
  }),
};

function menuHandlers(menus: MenuService): Handlers<typeof menuApi> {
  return {
    async listRestaurants({ query }) {
      return { status: 200, body: await menus.listRestaurants(query) };
    },
    async getMenu({ principal, params }) {
      // Served as the cache keeps it: already serialized.
      return { status: 200, body: new JsonText(await menus.getMenuBody(params.restaurantId, principal)) };
    },
    async createMenuItem({ params, headers, body }) {
      const { created, item } = await menus.createMenuItem(params.restaurantId, body, headers.idempotencyKey);
      return { status: created ? 201 : 200, body: item };
    },
    async updateMenuItem({ params, headers, body }) {
      const item = await menus.updateMenuItem(params.restaurantId, params.menuId, headers.version, body);
      return { status: 200, body: item, headers: { etag: `"${item.version}"` } };
    },
  };
}

export function menuRoutes(menus: MenuService, options: MountOptions = {}): Router {
  return mountApi(menuApi, menuHandlers(menus), options);
}
