// The restaurant console: incoming orders (accept / reject) and the menu editor.
import { useEffect, useState } from 'preact/hooks';
import { whenUnauthenticated } from '../lib/api';
import { useT } from '../lib/i18n';
import { clearSession, loadSession, saveSession, type Session } from '../lib/session';
import { focusHeading, mount, Shell, SignIn } from '../lib/ui';
import { MenuEditor } from './menu';
import { Orders } from './orders';

function RestaurantConsole() {
  const t = useT();
  const [session, setSession] = useState<Session | undefined>(() => loadSession('restaurant'));
  const [notice, setNotice] = useState<string>();
  const [name, setName] = useState<string>();

  useEffect(() => {
    whenUnauthenticated((err) => {
      clearSession('restaurant');
      setSession(undefined);
      setNotice(t.tokenRefused(err.message));
    });
    return () => whenUnauthenticated(undefined);
  }, [t]);

  const signOut = () => {
    clearSession('restaurant');
    setSession(undefined);
    setNotice(undefined);
    setName(undefined);
  };

  if (!session) {
    return (
      <Shell title={t.restaurantTitle}>
        <SignIn
          role="restaurant"
          title={t.restaurantTitle}
          label={t.restaurantTokenLabel}
          help={t.restaurantTokenHelp}
          notice={notice}
          onSignedIn={(s) => {
            saveSession(s);
            setNotice(undefined);
            setSession(s);
            focusHeading();
          }}
        />
      </Shell>
    );
  }

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
