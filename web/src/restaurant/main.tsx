// The restaurant console: incoming orders (accept / reject) and the menu editor.
import { useState } from 'preact/hooks';
import { useT } from '../lib/i18n';
import { mount, Shell, useConsoleSession } from '../lib/ui';
import { MenuEditor } from './menu';
import { Orders } from './orders';

function RestaurantConsole() {
  const t = useT();
  const {
    session,
    signOut: endSession,
    signInPage,
  } = useConsoleSession('restaurant', { title: t.restaurantTitle, label: t.restaurantTokenLabel, help: t.restaurantTokenHelp });
  const [name, setName] = useState<string>();

  if (!session) return signInPage;

  const signOut = () => {
    endSession();
    setName(undefined);
  };

  const restaurantId = session.restaurantId!;
  return (
    <Shell title={t.restaurantTitle} session={session} who={`${session.sub} · ${restaurantId}`} onSignOut={signOut}>
      <div class="page-head">
        <p class="eyebrow">{t.restaurantTitle}</p>
        <h1 tabIndex={-1}>
          {name ?? restaurantId} <span class="muted id">{restaurantId}</span>
        </h1>
      </div>
      <div class="columns">
        <Orders session={session} />
        <MenuEditor session={session} onName={setName} />
      </div>
    </Shell>
  );
}

mount(RestaurantConsole);
