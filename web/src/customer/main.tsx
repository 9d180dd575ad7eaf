// The customer page: browse restaurants and menus, order and pay with a sandbox card, follow the
// order to CONFIRMED or to its reason. Views are addressed by the URL hash, so the browser's back
// button and reloads work: #/ (restaurants), #/r/<restaurantId> (menu), #/orders/<orderId>.
import { useEffect, useState } from 'preact/hooks';
import { useT } from '../lib/i18n';
import { focusHeading, mount, Shell, useConsoleSession } from '../lib/ui';
import { CustomerMenu, type Carts } from './menu';
import { navigate } from './nav';
import { CustomerOrder } from './order';
import { RestaurantList } from './restaurants';

type Route = { view: 'restaurants' } | { view: 'menu'; restaurantId: string } | { view: 'order'; orderId: string };

function parseHash(hash: string): Route {
  const menu = /^#\/r\/([A-Za-z0-9_-]+)$/.exec(hash);
  if (menu) return { view: 'menu', restaurantId: menu[1]! };
  const order = /^#\/orders\/([A-Za-z0-9_-]+)$/.exec(hash);
  if (order) return { view: 'order', orderId: order[1]! };
  return { view: 'restaurants' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => {
      setRoute(parseHash(location.hash));
      focusHeading();
    };
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function CustomerPage() {
  const t = useT();
  const route = useRoute();
  const {
    session,
    signOut: endSession,
    signInPage,
  } = useConsoleSession('customer', { title: t.customerTitle, label: t.customerTokenLabel, help: t.customerTokenHelp });
  const [carts, setCarts] = useState<Carts>({});

  if (!session) return signInPage;

  const signOut = () => {
    endSession();
    setCarts({});
    navigate('#/');
  };

  return (
    <Shell title={t.customerTitle} session={session} onSignOut={signOut}>
      {route.view === 'restaurants' && <RestaurantList session={session} />}
      {route.view === 'menu' && <CustomerMenu key={route.restaurantId} session={session} restaurantId={route.restaurantId} carts={carts} setCarts={setCarts} />}
      {route.view === 'order' && <CustomerOrder key={route.orderId} session={session} orderId={route.orderId} />}
    </Shell>
  );
}

mount(CustomerPage);
