// Pieces every page shares: the language provider, the page shell and the token sign-in form.
import '../styles.css';
import { render, type ComponentChildren, type FunctionComponent } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, whenUnauthenticated } from './api';
import { initialLang, LangContext, MESSAGES, rememberLang, useT, type Lang, type Messages } from './i18n';
import { clearSession, isSession, loadSession, readToken, saveSession, type Session } from './session';
import type { Role } from './types';

/** Renders a page into #app inside the language provider. */
export function mount(Page: FunctionComponent): void {
  const Root = () => {
    const [lang, setLang] = useState<Lang>(initialLang);
    useEffect(() => rememberLang(lang), [lang]);
    const value = useMemo(() => ({ t: MESSAGES[lang], setLang }), [lang]);
    return (
      <LangContext.Provider value={value}>
        <Page />
      </LangContext.Provider>
    );
  };
  const host = document.getElementById('app');
  if (!host) throw new Error('#app is missing');
  host.textContent = '';
  render(<Root />, host);
}

export function LanguageSwitch() {
  const t = useT();
  return (
    <LangContext.Consumer>
      {({ setLang }) => (
        <button
          type="button"
          class="link-button"
          lang={t.lang === 'en' ? 'ko' : 'en'}
          aria-label={t.switchToLabel}
          onClick={() => setLang(t.lang === 'en' ? 'ko' : 'en')}
        >
          {t.switchTo}
        </button>
      )}
    </LangContext.Consumer>
  );
}

export function Shell(props: { title: string; session?: Session | undefined; who?: string; onSignOut?: () => void; children: ComponentChildren }) {
  const t = useT();
  useEffect(() => {
    document.title = `${props.title} · ${t.appName}`;
  }, [props.title, t]);
  return (
    <>
      <a class="skip-link" href="#main">
        {t.skipToContent}
      </a>
      <header class="topbar">
        <a class="brand" href="/console/" aria-label={t.home}>
          {t.appName}
        </a>
        <div class="topbar-tools">
          {props.session && <span class="who">{t.signedInAs(props.who ?? props.session.sub)}</span>}
          <LanguageSwitch />
          {props.session && props.onSignOut && (
            <button type="button" class="button secondary small" onClick={props.onSignOut}>
              {t.signOut}
            </button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}

/** A message for a failed call, in the user's language. */
export function describeError(t: Messages, err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return t.networkError;
    return t.unexpectedError(err.code, err.message);
  }
  return t.unexpectedError('CLIENT', (err as Error)?.message ?? String(err));
}

/**
 * A console's session for one role: restored from this browser, dropped with a notice when the API
 * refuses the token, and the sign-in page to show while there is none.
 */
export function useConsoleSession(role: Role, page: { title: string; label: string; help: string }) {
  const t = useT();
  const [session, setSession] = useState<Session | undefined>(() => loadSession(role));
  const [notice, setNotice] = useState<string>();

  useEffect(() => {
    whenUnauthenticated((err) => {
      clearSession(role);
      setSession(undefined);
      setNotice(t.tokenRefused(err.message));
    });
    return () => whenUnauthenticated(undefined);
  }, [t, role]);

  const signOut = () => {
    clearSession(role);
    setSession(undefined);
    setNotice(undefined);
  };
  const signInPage = (
    <Shell title={page.title}>
      <SignIn
        role={role}
        title={page.title}
        label={page.label}
        help={page.help}
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
  return { session, signOut, signInPage };
}

/** Paste-a-token sign-in. The claims are read here only to route; the API checks the signature. */
export function SignIn(props: { role: Role; title: string; label: string; help: string; notice?: string | undefined; onSignedIn: (s: Session) => void }) {
  const t = useT();
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string | undefined>(props.notice);
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => input.current?.focus(), []);
  useEffect(() => setProblem(props.notice), [props.notice]);

  const submit = (e: Event) => {
    e.preventDefault();
    const read = readToken(value, props.role);
    if (isSession(read)) {
      props.onSignedIn(read);
      return;
    }
    if (read.kind === 'malformed') setProblem(t.tokenMalformed);
    else if (read.kind === 'wrongRole') setProblem(t.tokenWrongRole(read.role, read.expected));
    else setProblem(t.tokenExpired(new Date(read.at).toLocaleString(t.lang === 'ko' ? 'ko-KR' : 'en-GB')));
    input.current?.focus();
  };

  return (
    <section class="card narrow" aria-labelledby="signin-title">
      <h1 id="signin-title">{props.title}</h1>
      <form onSubmit={submit} novalidate>
        <label for="token">{props.label}</label>
        <textarea
          id="token"
          ref={input}
          rows={4}
          spellcheck={false}
          autocomplete="off"
          aria-describedby={problem ? 'token-help token-problem' : 'token-help'}
          aria-invalid={problem ? true : undefined}
          value={value}
          onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)}
        />
        <p id="token-help" class="hint">
          <Code text={props.help} />
        </p>
        {problem && (
          <p id="token-problem" class="notice error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" class="button primary">
          {t.signIn}
        </button>
      </form>
    </section>
  );
}

/** Renders `back-quoted` parts of a label as <code>. */
export function Code(props: { text: string }) {
  const parts = props.text.split('`');
  return <>{parts.map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part))}</>;
}

/** Moves focus to the page's heading after the view changes (sign-in, navigation), as a page load would. */
export function focusHeading(): void {
  requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
}

/** A short form of a long id for display: "ord_…9f3a2c". */
export function shortId(id: string): string {
  const m = /^([a-z]+_)(.{6,})$/.exec(id);
  return m && id.length > 14 ? `${m[1]}…${id.slice(-6)}` : id;
}
