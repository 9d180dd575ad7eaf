import type { Knex } from 'knex';
import type { Migration } from './index';

// The read model: denormalized for browsing, written only by the CDC projector (db/projector).
// LSNs are stored as pg_lsn so they compare as positions, not as text.
export const menuReadMigrations: Migration[] = [
  {
    name: '0001_menu_read',
    async up(knex: Knex) {
      await knex.schema.createTable('restaurants_read', (t) => {
        t.text('restaurant_id').primary();
        t.text('name').notNullable();
        t.boolean('auto_accept').notNullable();
        // Menu items of the restaurant that are not HIDDEN; kept by the projector in the same transaction.
        t.integer('item_count').notNullable().defaultTo(0);
        // Commit LSN (end) of the source transaction that last wrote the row, or the snapshot point.
        t.specificType('source_lsn', 'pg_lsn');
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      });
      await knex.schema.createTable('menu_items_read', (t) => {
        t.text('menu_id').primary();
        t.text('restaurant_id').notNullable();
        t.text('name').notNullable();
        t.bigInteger('price').notNullable();
        t.text('status').notNullable();
        t.integer('version').notNullable();
        t.specificType('source_lsn', 'pg_lsn');
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['restaurant_id', 'menu_id']);
      });
      await knex.schema.createTable('projector_state', (t) => {
        t.text('slot_name').primary();
        // Everything up to this position is in the read model; written in the same transaction as the rows.
        t.specificType('last_lsn', 'pg_lsn').notNullable();
        t.timestamp('last_commit_time', { useTz: true });
        // Row changes applied since the last re-sync: lets tests prove nothing was applied twice.
        t.bigInteger('changes_applied').notNullable().defaultTo(0);
        t.timestamp('resynced_at', { useTz: true });
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      });
    },
    async down(knex: Knex) {
      await knex.schema.dropTable('projector_state');
      await knex.schema.dropTable('menu_items_read');
      await knex.schema.dropTable('restaurants_read');
    },
  },
  {
    // Finding a restaurant (GET /restaurants?q=&category=). Korean names are searched by substring,
    // and Korean words are often two syllables (치킨), which a trigram index (pg_trgm) cannot serve.
    // So the read model keeps the set of 1- and 2-character pieces of each lower-cased name in a
    // generated column with a GIN index: a query's 2-character pieces (or its one character) must all
    // be in the set, then `name ILIKE '%q%'` checks the row. Works for any script and any length >= 1,
    // needs no extension, and the projector does not write it (Postgres computes it).
    name: '0002_restaurant_search',
    async up(knex: Knex) {
      await knex.raw(`
        CREATE FUNCTION name_grams(s text) RETURNS text[]
          LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
          RETURN ARRAY(SELECT DISTINCT substr(lower(s), i, n)
                         FROM generate_series(1, char_length(s)) AS i, (VALUES (1), (2)) AS v(n)
                        WHERE i + n - 1 <= char_length(s))`);
      await knex.raw(`
        CREATE FUNCTION query_grams(q text) RETURNS text[]
          LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
          RETURN CASE WHEN char_length(q) = 1 THEN ARRAY[lower(q)]
                      ELSE ARRAY(SELECT DISTINCT substr(lower(q), i, 2) FROM generate_series(1, char_length(q) - 1) AS i) END`);
      await knex.raw("ALTER TABLE restaurants_read ADD COLUMN category text NOT NULL DEFAULT 'korean'");
      await knex.raw('ALTER TABLE restaurants_read ADD COLUMN name_grams text[] GENERATED ALWAYS AS (name_grams(name)) STORED');
      await knex.raw('CREATE INDEX restaurants_read_name_grams ON restaurants_read USING gin (name_grams)');
      await knex.raw('CREATE INDEX restaurants_read_category ON restaurants_read (category, restaurant_id)');
    },
    async down(knex: Knex) {
      await knex.raw('ALTER TABLE restaurants_read DROP COLUMN name_grams, DROP COLUMN category');
      await knex.raw('DROP FUNCTION query_grams(text)');
      await knex.raw('DROP FUNCTION name_grams(text)');
    },
  },
  {
    // The projector rewrites a menu item's row on every change it applies; with room on the page the
    // new version stays there (HOT) and neither index is written (restaurants migration 0003, same reason).
    name: '0003_menu_items_read_fillfactor',
    async up(knex: Knex) {
      await knex.raw('ALTER TABLE menu_items_read SET (fillfactor = 90)');
    },
    async down(knex: Knex) {
      await knex.raw('ALTER TABLE menu_items_read RESET (fillfactor)');
    },
  },
  {
    // A name search first checks the next restaurants in id order (api/services/menus.ts, the
    // window); with every column it returns in the index, that is an index-only scan, not 5,000 row fetches.
    name: '0004_restaurants_read_search_window',
    async up(knex: Knex) {
      await knex.raw('CREATE INDEX restaurants_read_id_covering ON restaurants_read (restaurant_id) INCLUDE (name, auto_accept, category)');
    },
    async down(knex: Knex) {
      await knex.raw('DROP INDEX restaurants_read_id_covering');
    },
  },
  {
    // A rare name search (every piece common, the whole name rare: "교촌치킨 강남") must not read every
    // match of the GIN index to sort them for one page. This table keeps each name's 2-character
    // pieces in (piece, restaurant_id) order, so a search walks its rarest piece's list from the
    // cursor in id order and stops once the page is full (api/services/menus.ts). Triggers keep it
    // (like name_grams, the projector does not write it): one statement per insert or delete batch,
    // and a row trigger only when a name really changes.
    name: '0005_restaurant_name_pieces',
    async up(knex: Knex) {
      await knex.raw(`
        CREATE TABLE restaurant_name_pieces (
          piece text NOT NULL,
          restaurant_id text NOT NULL,
          PRIMARY KEY (piece, restaurant_id)
        )`);
      await knex.raw(`
        CREATE FUNCTION restaurant_name_pieces_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO restaurant_name_pieces (piece, restaurant_id)
          SELECT g, a.restaurant_id FROM added a, unnest(a.name_grams) AS g WHERE char_length(g) = 2
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE FUNCTION restaurant_name_pieces_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces p
           USING (SELECT r.restaurant_id, g FROM removed r, unnest(r.name_grams) AS g WHERE char_length(g) = 2) r
           WHERE p.piece = r.g AND p.restaurant_id = r.restaurant_id;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE FUNCTION restaurant_name_pieces_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces
           WHERE restaurant_id = OLD.restaurant_id AND piece = ANY(OLD.name_grams) AND NOT piece = ANY(NEW.name_grams);
          INSERT INTO restaurant_name_pieces (piece, restaurant_id)
          SELECT g, NEW.restaurant_id FROM unnest(NEW.name_grams) AS g WHERE char_length(g) = 2
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE TRIGGER restaurant_name_pieces_added AFTER INSERT ON restaurants_read
          REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION restaurant_name_pieces_added()`);
      await knex.raw(`
        CREATE TRIGGER restaurant_name_pieces_removed AFTER DELETE ON restaurants_read
          REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION restaurant_name_pieces_removed()`);
      await knex.raw(`
        CREATE TRIGGER restaurant_name_pieces_renamed AFTER UPDATE OF name ON restaurants_read
          FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION restaurant_name_pieces_renamed()`);
      await knex.raw(`
        INSERT INTO restaurant_name_pieces (piece, restaurant_id)
        SELECT g, r.restaurant_id FROM restaurants_read r, unnest(r.name_grams) AS g WHERE char_length(g) = 2`);
    },
    async down(knex: Knex) {
      await knex.raw('DROP TRIGGER restaurant_name_pieces_renamed ON restaurants_read');
      await knex.raw('DROP TRIGGER restaurant_name_pieces_removed ON restaurants_read');
      await knex.raw('DROP TRIGGER restaurant_name_pieces_added ON restaurants_read');
      await knex.raw('DROP FUNCTION restaurant_name_pieces_renamed(), restaurant_name_pieces_removed(), restaurant_name_pieces_added()');
      await knex.raw('DROP TABLE restaurant_name_pieces');
    },
  },
  {
    // A name search with a category walked the piece's whole list when the category had none of its
    // matches (떡볶이 among korean restaurants: 57,000 rows read to answer nothing). With the category
    // beside each piece, (piece, category, restaurant_id) is its own list in id order.
    name: '0006_restaurant_name_pieces_category',
    async up(knex: Knex) {
      await knex.raw('ALTER TABLE restaurant_name_pieces ADD COLUMN category text');
      await knex.raw('UPDATE restaurant_name_pieces p SET category = r.category FROM restaurants_read r WHERE r.restaurant_id = p.restaurant_id');
      await knex.raw('ALTER TABLE restaurant_name_pieces ALTER COLUMN category SET NOT NULL');
      await knex.raw('CREATE INDEX restaurant_name_pieces_by_category ON restaurant_name_pieces (piece, category, restaurant_id)');
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
          SELECT g, a.restaurant_id, a.category FROM added a, unnest(a.name_grams) AS g WHERE char_length(g) = 2
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces WHERE restaurant_id = OLD.restaurant_id AND piece = ANY(OLD.name_grams);
          INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
          SELECT g, NEW.restaurant_id, NEW.category FROM unnest(NEW.name_grams) AS g WHERE char_length(g) = 2;
          RETURN NULL;
        END $$`);
      await knex.raw('DROP TRIGGER restaurant_name_pieces_renamed ON restaurants_read');
      await knex.raw(`
        CREATE TRIGGER restaurant_name_pieces_renamed AFTER UPDATE OF name, category ON restaurants_read
          FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.category IS DISTINCT FROM NEW.category)
          EXECUTE FUNCTION restaurant_name_pieces_renamed()`);
    },
    async down(knex: Knex) {
      await knex.raw('DROP TRIGGER restaurant_name_pieces_renamed ON restaurants_read');
      await knex.raw(`
        CREATE TRIGGER restaurant_name_pieces_renamed AFTER UPDATE OF name ON restaurants_read
          FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION restaurant_name_pieces_renamed()`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO restaurant_name_pieces (piece, restaurant_id)
          SELECT g, a.restaurant_id FROM added a, unnest(a.name_grams) AS g WHERE char_length(g) = 2
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces WHERE restaurant_id = OLD.restaurant_id AND piece = ANY(OLD.name_grams);
          INSERT INTO restaurant_name_pieces (piece, restaurant_id)
          SELECT g, NEW.restaurant_id FROM unnest(NEW.name_grams) AS g WHERE char_length(g) = 2;
          RETURN NULL;
        END $$`);
      await knex.raw('DROP INDEX restaurant_name_pieces_by_category');
      await knex.raw('ALTER TABLE restaurant_name_pieces DROP COLUMN category');
    },
  },
  {
    // A snapshot copies 572,550 restaurants in pages; the insert trigger then wrote each page's pieces
    // into two indexes whose hot pages did not fit in memory (at full size 329 s, against 235 s filled once).
    // A transaction that sets menu_read.name_pieces = 'deferred' keeps the table itself: the snapshot
    // deletes it whole and fills it once, sorted, after the copy (db/projector/snapshot.ts).
    name: '0007_restaurant_name_pieces_deferrable',
    async up(knex: Knex) {
      await replaceBatchTriggers(knex, `WHEN (current_setting('menu_read.name_pieces', true) IS DISTINCT FROM 'deferred')`);
    },
    async down(knex: Knex) {
      await replaceBatchTriggers(knex, '');
    },
  },
  {
    // What a name's pieces are (its 2-character grams) was written out in each trigger and in the
    // snapshot's fill (db/projector/snapshot.ts); one function now says it. It is a set-returning SQL
    // function called in FROM, neither STRICT nor VOLATILE, one SELECT, no SET: the planner inlines
    // it (the plan shows the unnest itself, not a Function Scan on name_pieces), so the snapshot's
    // sorted fill of 5.7 million pieces costs what it did (test/migrations.test.ts checks the fill's
    // plan, and that the triggers never call it as a function).
    name: '0008_name_pieces_function',
    async up(knex: Knex) {
      await knex.raw(`
        CREATE FUNCTION name_pieces(grams text[]) RETURNS SETOF text
          LANGUAGE sql IMMUTABLE PARALLEL SAFE
          BEGIN ATOMIC
            SELECT g FROM unnest(grams) AS g WHERE char_length(g) = 2;
          END`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
          SELECT g, a.restaurant_id, a.category FROM added a, name_pieces(a.name_grams) AS g
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces p
           USING (SELECT r.restaurant_id, g FROM removed r, name_pieces(r.name_grams) AS g) r
           WHERE p.piece = r.g AND p.restaurant_id = r.restaurant_id;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces WHERE restaurant_id = OLD.restaurant_id AND piece = ANY(OLD.name_grams);
          INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
          SELECT g, NEW.restaurant_id, NEW.category FROM name_pieces(NEW.name_grams) AS g;
          RETURN NULL;
        END $$`);
    },
    async down(knex: Knex) {
      // The bodies of 0006 (added, renamed) and 0005 (removed), with the pieces written out again.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
          SELECT g, a.restaurant_id, a.category FROM added a, unnest(a.name_grams) AS g WHERE char_length(g) = 2
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces p
           USING (SELECT r.restaurant_id, g FROM removed r, unnest(r.name_grams) AS g WHERE char_length(g) = 2) r
           WHERE p.piece = r.g AND p.restaurant_id = r.restaurant_id;
          RETURN NULL;
        END $$`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION restaurant_name_pieces_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM restaurant_name_pieces WHERE restaurant_id = OLD.restaurant_id AND piece = ANY(OLD.name_grams);
          INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
          SELECT g, NEW.restaurant_id, NEW.category FROM unnest(NEW.name_grams) AS g WHERE char_length(g) = 2;
          RETURN NULL;
        END $$`);
      await knex.raw('DROP FUNCTION name_pieces(text[])');
    },
  },
];

/** (Re)creates the statement triggers of 0005 that follow inserted and deleted batches, with `when`. */
async function replaceBatchTriggers(knex: Knex, when: string): Promise<void> {
  await knex.raw('DROP TRIGGER restaurant_name_pieces_added ON restaurants_read');
  await knex.raw('DROP TRIGGER restaurant_name_pieces_removed ON restaurants_read');
  await knex.raw(`
    CREATE TRIGGER restaurant_name_pieces_added AFTER INSERT ON restaurants_read
      REFERENCING NEW TABLE AS added FOR EACH STATEMENT ${when} EXECUTE FUNCTION restaurant_name_pieces_added()`);
  await knex.raw(`
    CREATE TRIGGER restaurant_name_pieces_removed AFTER DELETE ON restaurants_read
      REFERENCING OLD TABLE AS removed FOR EACH STATEMENT ${when} EXECUTE FUNCTION restaurant_name_pieces_removed()`);
}
