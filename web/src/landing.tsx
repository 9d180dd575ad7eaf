import { mount, Shell } from './lib/ui';
import { useT } from './lib/i18n';

function Landing() {
  const t = useT();
  return (
    <Shell title={t.landingTitle}>
      <h1>{t.landingTitle}</h1>
      <p class="lead">{t.landingIntro}</p>
      <ul class="tiles" role="list">
        <li>
          <a class="tile" href="/console/restaurant/">
            <span class="tile-title">{t.restaurantLink}</span>
            <span class="tile-text">{t.restaurantLinkText}</span>
          </a>
        </li>
        <li>
          <a class="tile" href="/console/customer/">
            <span class="tile-title">{t.customerLink}</span>
            <span class="tile-text">{t.customerLinkText}</span>
          </a>
        </li>
        <li>
          <a class="tile" href="/console/operator/">
            <span class="tile-title">{t.operatorLink}</span>
            <span class="tile-text">{t.operatorLinkText}</span>
          </a>
        </li>
      </ul>
    </Shell>
  );
}

mount(Landing);
