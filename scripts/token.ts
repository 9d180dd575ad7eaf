// `npm run token -- <role> <subject> [restaurantId]`: prints one bearer token alone on stdout.
import { mintToken, ROLES, type Role } from '../lib/node/auth';
import { loadConfig, tokenLifetimes } from '../lib/node/config';

async function main() {
  const [role, subject, restaurantId] = process.argv.slice(2);
  if (!role || !subject || !(ROLES as readonly string[]).includes(role) || (role === 'restaurant' && !restaurantId)) {
    process.stderr.write('usage: npm run token -- <customer|restaurant|admin> <subject> [restaurantId (for restaurant)]\n');
    process.exit(2);
  }
  const config = loadConfig();
  // TOKEN_TTL_SECONDS, cut to the role's maximum lifetime (TOKEN_MAX_LIFETIME_<ROLE>_SECONDS) that the API enforces.
  const token = await mintToken(
    { role: role as Role, sub: subject, ...(restaurantId ? { restaurantId } : {}) },
    config.AUTH_SECRET,
    config.TOKEN_TTL_SECONDS,
    tokenLifetimes(config),
  );
  process.stdout.write(`${token}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
