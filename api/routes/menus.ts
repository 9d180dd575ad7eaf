import { Router } from 'express';
import { assertActsFor, principalOf, requireRole } from '../auth';
import { parseIfMatch, type MenuService } from '../services/menus';
import { createMenuItemBody, idempotencyKeyHeader, noQuery, pageQuery, parse, pathId, updateMenuItemBody } from '../validation';

export function menuRoutes(menus: MenuService): Router {
  const r = Router();

  r.get(
    '/restaurants',
    async (req, res) => {
      res.json(await menus.listRestaurants(parse(pageQuery, req.query, 'query')));
    },
  );

  r.get(
    '/restaurants/:restaurantId/menu',
    async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      parse(noQuery, req.query, 'query');
      res.type('json').send(await menus.getMenuBody(restaurantId, req.principal));
    },
  );

  r.post(
    '/restaurants/:restaurantId/menu-items',
    requireRole('restaurant', 'admin'),
    async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, true);
      parse(noQuery, req.query, 'query');
      const body = parse(createMenuItemBody, req.body ?? {});
      const rawKey = req.header('idempotency-key');
      const key = rawKey === undefined ? undefined : parse(idempotencyKeyHeader, rawKey, 'Idempotency-Key header');
      const { created, item } = await menus.createMenuItem(restaurantId, body, key);
      res.status(created ? 201 : 200).json(item);
    },
  );

  r.patch(
    '/restaurants/:restaurantId/menu-items/:menuId',
    requireRole('restaurant', 'admin'),
    async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, true);
      parse(noQuery, req.query, 'query');
      const version = parseIfMatch(req.header('if-match'));
      const body = parse(updateMenuItemBody, req.body ?? {});
      const result = await menus.updateMenuItem(restaurantId, parse(pathId, req.params.menuId, 'path'), version, body);
      res.setHeader('etag', `"${result.version}"`);
      res.json(result);
    },
  );

  return r;
}
