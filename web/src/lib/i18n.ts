// Labels in English and Korean. `ko` is typed as `typeof en`, so a label missing in either fails
// the typecheck. The chosen language is kept in localStorage.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { MenuItemStatus, OrderStatus } from './types';

export type Lang = 'en' | 'ko';

const won = (n: number, lang: Lang) => (lang === 'ko' ? `${n.toLocaleString('ko-KR')}원` : `₩${n.toLocaleString('en-US')}`);

const en = {
  lang: 'en' as Lang,
  money: (n: number) => won(n, 'en'),
  time: (iso: string | number) => new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' }),

  appName: 'Delivery console',
  skipToContent: 'Skip to content',
  language: 'Language',
  switchTo: '한국어',
  switchToLabel: 'Switch to Korean',
  signIn: 'Sign in',
  signOut: 'Sign out',
  signedInAs: (who: string) => `Signed in as ${who}`,
  home: 'Console home',
  loading: 'Loading…',
  retry: 'Try again',
  updated: (time: string) => `Updated ${time}`,
  tokenMalformed: 'That does not look like a token: it should be three parts separated by dots.',
  tokenWrongRole: (role: string, expected: string) => `This is a ${role} token; this page needs a ${expected} token.`,
  tokenExpired: (time: string) => `This token expired at ${time}. Mint a new one.`,
  tokenRefused: (message: string) => `The API refused this token (${message}). Sign in again with a current token.`,
  networkError: 'Could not reach the API. Is `npm start` running?',
  unexpectedError: (code: string, message: string) => `Something went wrong (${code}): ${message}`,

  landingTitle: 'Delivery console',
  landingIntro: 'Two pages built only on the public HTTP API: one for restaurants, one for customers.',
  restaurantLink: 'Restaurant console',
  restaurantLinkText: 'Accept or reject incoming orders, change prices and what is on sale.',
  customerLink: 'Order food',
  customerLinkText: 'Browse restaurants, order, pay with a sandbox card and follow the order.',

  // Restaurant console
  restaurantTitle: 'Restaurant console',
  restaurantTokenLabel: 'Restaurant token',
  restaurantTokenHelp: '`npm start` prints one; `npm run token -- restaurant owner-1 rst_0001` mints more.',
  incomingOrders: 'Waiting for you',
  noIncoming: 'No orders are waiting. New orders appear here by themselves.',
  recentOrders: 'Recent orders',
  colOrder: 'Order',
  colPlaced: 'Placed',
  colStatus: 'Status',
  colItem: 'Item',
  noRecent: 'No orders yet.',
  newOrderAnnounce: (id: string) => `New order ${id}`,
  accept: 'Accept',
  reject: 'Reject',
  rejectReason: 'Reason for the customer (optional)',
  confirmReject: 'Reject order',
  keepOrder: 'Back',
  timeLeft: (time: string) => `${time} left to decide`,
  windowPassed: 'The acceptance window has passed',
  placedAt: (time: string) => `Placed ${time}`,
  deliverTo: (address: string) => `Deliver to ${address}`,
  decided: (id: string, status: string) => `Order ${id}: ${status}`,
  menu: 'Menu',
  menuAsOf: (time: string) => `Last change ${time}. Your edits show here once the read model has them, usually within a second.`,
  price: 'Price',
  priceOf: (name: string) => `Price of ${name} (won)`,
  statusOf: (name: string) => `Status of ${name}`,
  save: 'Save',
  saving: 'Saving…',
  saved: (version: number) => `Saved (version ${version}).`,
  invalidPrice: 'Enter a whole number of won, at least 1.',
  conflictTitle: 'Someone changed this item before you did.',
  conflictBody: (name: string, price: string, status: string, version: number) =>
    `Your change was not saved. The item is now: ${name}, ${price}, ${status} (version ${version}).`,
  useCurrent: 'Use the current version',
  applyMine: 'Apply my change to it',
  hiddenNote: 'Hidden items are visible only to you.',

  // Customer page
  customerTitle: 'Order food',
  customerTokenLabel: 'Customer token',
  customerTokenHelp: '`npm start` prints one; `npm run token -- customer customer-1` mints more.',
  restaurants: 'Restaurants',
  instantConfirm: 'Confirms instantly',
  previousPage: 'Previous',
  nextPage: 'Next',
  pageN: (n: number) => `Page ${n}`,
  backToRestaurants: 'All restaurants',
  add: 'Add',
  addNamed: (name: string) => `Add ${name}`,
  soldOut: 'Sold out',
  decrease: (name: string) => `One less ${name}`,
  increase: (name: string) => `One more ${name}`,
  quantityOf: (name: string, q: number) => `${name}: ${q}`,
  cart: 'Your order',
  cartEmpty: 'Nothing yet. Add dishes from the menu.',
  cartFrom: (name: string) => `From ${name}`,
  lineSoldOut: 'sold out — remove it to order',
  remove: 'Remove',
  total: 'Total',
  deliveryAddress: 'Delivery address',
  card: 'Card (sandbox)',
  cardOk: 'Test card — approves',
  cardDecline: 'Test card — declined',
  cardSlow: 'Test card — slow (takes 3 seconds)',
  placeOrder: (total: string) => `Pay ${total} and order`,
  placing: 'Placing your order…',
  itemsUnavailable: (names: string) => `Not on sale any more: ${names}. Remove them and order again.`,
  retrySafe: 'The order could not be sent. Trying again is safe: the same checkout is never charged twice.',
  addressRequired: 'Enter a delivery address.',
  myOrders: 'Your orders in this browser',
  orderHeading: (id: string) => `Order ${id}`,
  orderFrom: (name: string) => `From ${name}`,
  stepPlaced: 'Order received',
  stepPaymentHeld: 'Payment held on your card',
  stepAccepted: 'Restaurant accepted',
  stepState: { done: 'done', current: 'in progress', failed: 'did not happen', todo: 'not yet' },
  statusSentence: {
    PENDING: 'We are holding the payment on your card…',
    AWAITING_RESTAURANT: 'Your payment is on hold. Waiting for the restaurant to accept.',
    CONFIRMED: 'Confirmed! The restaurant is preparing your order.',
    REJECTED: 'This order did not go through.',
    CANCELLED: 'This order was cancelled.',
  } satisfies Record<OrderStatus, string>,
  restaurantHasLeft: (time: string) => `The restaurant has ${time} left to answer.`,
  chargedTotal: (total: string) => `Your card was charged ${total}.`,
  cancelOrder: 'Cancel order',
  cancelling: 'Cancelling…',
  notCancellable: 'Too late to cancel: the restaurant has already accepted this order.',
  orderAgain: 'Order something else',
  payment: 'Payment',
  paymentStatus: {
    PENDING: 'being checked',
    AUTHORIZED: 'on hold',
    CAPTURED: 'charged',
    VOIDED: 'hold released, nothing charged',
    REFUNDED: 'refunded',
    DECLINED: 'declined, nothing charged',
  } as Record<string, string>,
  reasonSentence: {
    PAYMENT_DECLINED: 'Your card was declined, so nothing was charged. Try another card.',
    ITEM_UNAVAILABLE: 'An item sold out just as you ordered. The hold on your card was released; nothing was charged.',
    PRICE_CHANGED: 'A price changed while you were ordering. Nothing was charged; check the menu and order again.',
    RESTAURANT_REJECTED: 'The restaurant could not take your order right now. The hold on your card was released.',
    RESTAURANT_TIMEOUT: 'The restaurant did not answer in time. The hold on your card was released.',
    CUSTOMER_CANCELLED: 'You cancelled this order. Nothing was charged.',
    PAYMENT_CAPTURE_FAILED: 'The restaurant accepted, but the card payment could not be completed. The hold was released and nothing was charged.',
    PAYMENT_UNAVAILABLE: 'We could not reach the card processor. Nothing was charged; please try again in a few minutes.',
    SYSTEM_ERROR: 'Something went wrong on our side. Nothing was charged.',
  } as Record<string, string>,
  reasonUnknown: (code: string) => `The order could not be completed (${code}). Nothing was kept from your card.`,
  reasonShort: {
    PAYMENT_DECLINED: 'card declined',
    ITEM_UNAVAILABLE: 'item unavailable',
    PRICE_CHANGED: 'price changed',
    RESTAURANT_REJECTED: 'rejected by you',
    RESTAURANT_TIMEOUT: 'not answered in time',
    CUSTOMER_CANCELLED: 'cancelled by the customer',
    PAYMENT_CAPTURE_FAILED: 'capture failed',
    PAYMENT_UNAVAILABLE: 'card processor unreachable',
    SYSTEM_ERROR: 'system error',
  } as Record<string, string>,

  orderStatus: {
    PENDING: 'Payment in progress',
    AWAITING_RESTAURANT: 'Waiting for restaurant',
    CONFIRMED: 'Confirmed',
    REJECTED: 'Rejected',
    CANCELLED: 'Cancelled',
  } satisfies Record<OrderStatus, string>,
  itemStatus: { ON_SALE: 'On sale', SOLD_OUT: 'Sold out', HIDDEN: 'Hidden' } satisfies Record<MenuItemStatus, string>,
};

export type Messages = typeof en;

const ko: Messages = {
  lang: 'ko',
  money: (n: number) => won(n, 'ko'),
  time: (iso: string | number) => new Date(iso).toLocaleTimeString('ko-KR', { hour: '2-digit', minute: '2-digit', second: '2-digit' }),

  appName: '배달 콘솔',
  skipToContent: '본문으로 건너뛰기',
  language: '언어',
  switchTo: 'English',
  switchToLabel: '영어로 보기',
  signIn: '로그인',
  signOut: '로그아웃',
  signedInAs: (who: string) => `${who}(으)로 로그인함`,
  home: '콘솔 처음으로',
  loading: '불러오는 중…',
  retry: '다시 시도',
  updated: (time: string) => `${time} 업데이트`,
  tokenMalformed: '토큰 형식이 아니에요. 점(.)으로 나뉜 세 부분이어야 해요.',
  tokenWrongRole: (role: string, expected: string) => `${role} 토큰이에요. 이 페이지에는 ${expected} 토큰이 필요해요.`,
  tokenExpired: (time: string) => `${time}에 만료된 토큰이에요. 새로 발급해 주세요.`,
  tokenRefused: (message: string) => `API가 이 토큰을 거부했어요 (${message}). 유효한 토큰으로 다시 로그인해 주세요.`,
  networkError: 'API에 연결할 수 없어요. `npm start`가 실행 중인지 확인해 주세요.',
  unexpectedError: (code: string, message: string) => `문제가 생겼어요 (${code}): ${message}`,

  landingTitle: '배달 콘솔',
  landingIntro: '공개 HTTP API만으로 만든 두 페이지: 사장님용과 고객용.',
  restaurantLink: '사장님 콘솔',
  restaurantLinkText: '들어온 주문을 수락하거나 거절하고, 가격과 판매 상태를 바꿔요.',
  customerLink: '음식 주문',
  customerLinkText: '식당을 둘러보고, 테스트 카드로 결제하고, 주문 진행을 지켜봐요.',

  restaurantTitle: '사장님 콘솔',
  restaurantTokenLabel: '식당 토큰',
  restaurantTokenHelp: '`npm start`가 하나 출력해요. `npm run token -- restaurant owner-1 rst_0001`로 더 만들 수 있어요.',
  incomingOrders: '확인을 기다리는 주문',
  noIncoming: '기다리는 주문이 없어요. 새 주문은 여기에 자동으로 나타나요.',
  recentOrders: '최근 주문',
  colOrder: '주문',
  colPlaced: '주문 시각',
  colStatus: '상태',
  colItem: '메뉴',
  noRecent: '아직 주문이 없어요.',
  newOrderAnnounce: (id: string) => `새 주문 ${id}`,
  accept: '수락',
  reject: '거절',
  rejectReason: '고객에게 전할 사유 (선택)',
  confirmReject: '주문 거절하기',
  keepOrder: '돌아가기',
  timeLeft: (time: string) => `결정까지 ${time} 남음`,
  windowPassed: '수락 가능 시간이 지났어요',
  placedAt: (time: string) => `${time} 주문`,
  deliverTo: (address: string) => `배달지: ${address}`,
  decided: (id: string, status: string) => `주문 ${id}: ${status}`,
  menu: '메뉴',
  menuAsOf: (time: string) => `마지막 변경 ${time}. 수정한 내용은 조회용 모델에 반영되면 보여요 (보통 1초 안).`,
  price: '가격',
  priceOf: (name: string) => `${name} 가격 (원)`,
  statusOf: (name: string) => `${name} 판매 상태`,
  save: '저장',
  saving: '저장 중…',
  saved: (version: number) => `저장했어요 (버전 ${version}).`,
  invalidPrice: '1원 이상의 정수로 입력해 주세요.',
  conflictTitle: '다른 곳에서 이 메뉴를 먼저 바꿨어요.',
  conflictBody: (name: string, price: string, status: string, version: number) =>
    `변경 사항은 저장되지 않았어요. 현재 메뉴: ${name}, ${price}, ${status} (버전 ${version}).`,
  useCurrent: '현재 버전 불러오기',
  applyMine: '내 변경을 다시 적용',
  hiddenNote: '숨김 메뉴는 사장님에게만 보여요.',

  customerTitle: '음식 주문',
  customerTokenLabel: '고객 토큰',
  customerTokenHelp: '`npm start`가 하나 출력해요. `npm run token -- customer customer-1`로 더 만들 수 있어요.',
  restaurants: '식당',
  instantConfirm: '즉시 확정',
  previousPage: '이전',
  nextPage: '다음',
  pageN: (n: number) => `${n}쪽`,
  backToRestaurants: '식당 목록',
  add: '담기',
  addNamed: (name: string) => `${name} 담기`,
  soldOut: '품절',
  decrease: (name: string) => `${name} 하나 빼기`,
  increase: (name: string) => `${name} 하나 더`,
  quantityOf: (name: string, q: number) => `${name}: ${q}개`,
  cart: '주문서',
  cartEmpty: '아직 담은 메뉴가 없어요.',
  cartFrom: (name: string) => `${name}`,
  lineSoldOut: '품절 — 빼야 주문할 수 있어요',
  remove: '빼기',
  total: '합계',
  deliveryAddress: '배달 주소',
  card: '카드 (테스트)',
  cardOk: '테스트 카드 — 승인',
  cardDecline: '테스트 카드 — 거절',
  cardSlow: '테스트 카드 — 느림 (3초 걸림)',
  placeOrder: (total: string) => `${total} 결제하고 주문하기`,
  placing: '주문하는 중…',
  itemsUnavailable: (names: string) => `더 이상 판매하지 않는 메뉴: ${names}. 빼고 다시 주문해 주세요.`,
  retrySafe: '주문을 보내지 못했어요. 다시 시도해도 안전해요: 같은 주문은 두 번 결제되지 않아요.',
  addressRequired: '배달 주소를 입력해 주세요.',
  myOrders: '이 브라우저에서 한 주문',
  orderHeading: (id: string) => `주문 ${id}`,
  orderFrom: (name: string) => `${name}`,
  stepPlaced: '주문 접수',
  stepPaymentHeld: '카드 결제 승인 (보류)',
  stepAccepted: '식당 수락',
  stepState: { done: '완료', current: '진행 중', failed: '실패', todo: '대기' },
  statusSentence: {
    PENDING: '카드 결제를 승인받고 있어요…',
    AWAITING_RESTAURANT: '결제가 보류되었어요. 식당이 주문을 확인하고 있어요.',
    CONFIRMED: '주문이 확정됐어요! 식당에서 음식을 준비하고 있어요.',
    REJECTED: '주문이 진행되지 않았어요.',
    CANCELLED: '주문이 취소됐어요.',
  },
  restaurantHasLeft: (time: string) => `식당 응답까지 ${time} 남았어요.`,
  chargedTotal: (total: string) => `카드로 ${total}이 결제됐어요.`,
  cancelOrder: '주문 취소',
  cancelling: '취소하는 중…',
  notCancellable: '취소하기엔 늦었어요: 식당이 이미 주문을 수락했어요.',
  orderAgain: '다른 메뉴 주문하기',
  payment: '결제',
  paymentStatus: {
    PENDING: '확인 중',
    AUTHORIZED: '승인 보류',
    CAPTURED: '결제 완료',
    VOIDED: '보류 해제, 결제된 금액 없음',
    REFUNDED: '환불됨',
    DECLINED: '거절됨, 결제된 금액 없음',
  },
  reasonSentence: {
    PAYMENT_DECLINED: '카드 결제가 거절되어 결제된 금액은 없어요. 다른 카드로 시도해 주세요.',
    ITEM_UNAVAILABLE: '주문하는 사이에 메뉴가 품절됐어요. 카드 승인은 취소되었고 결제된 금액은 없어요.',
    PRICE_CHANGED: '주문하는 사이에 가격이 바뀌었어요. 결제된 금액은 없어요. 메뉴를 확인하고 다시 주문해 주세요.',
    RESTAURANT_REJECTED: '식당이 지금은 주문을 받을 수 없어요. 카드 승인은 취소되었어요.',
    RESTAURANT_TIMEOUT: '식당이 제시간에 응답하지 않았어요. 카드 승인은 취소되었어요.',
    CUSTOMER_CANCELLED: '주문을 취소하셨어요. 결제된 금액은 없어요.',
    PAYMENT_CAPTURE_FAILED: '식당은 수락했지만 카드 결제를 완료하지 못했어요. 승인은 취소되었고 결제된 금액은 없어요.',
    PAYMENT_UNAVAILABLE: '카드사에 연결할 수 없었어요. 결제된 금액은 없어요. 잠시 뒤 다시 시도해 주세요.',
    SYSTEM_ERROR: '저희 쪽에 문제가 생겼어요. 결제된 금액은 없어요.',
  },
  reasonUnknown: (code: string) => `주문을 완료하지 못했어요 (${code}). 카드에서 빠져나간 금액은 없어요.`,
  reasonShort: {
    PAYMENT_DECLINED: '카드 거절',
    ITEM_UNAVAILABLE: '메뉴 품절',
    PRICE_CHANGED: '가격 변경',
    RESTAURANT_REJECTED: '거절함',
    RESTAURANT_TIMEOUT: '응답 시간 초과',
    CUSTOMER_CANCELLED: '고객 취소',
    PAYMENT_CAPTURE_FAILED: '결제 실패',
    PAYMENT_UNAVAILABLE: '카드사 연결 불가',
    SYSTEM_ERROR: '시스템 오류',
  },

  orderStatus: {
    PENDING: '결제 진행 중',
    AWAITING_RESTAURANT: '식당 확인 대기',
    CONFIRMED: '주문 확정',
    REJECTED: '주문 실패',
    CANCELLED: '주문 취소',
  },
  itemStatus: { ON_SALE: '판매 중', SOLD_OUT: '품절', HIDDEN: '숨김' },
};

export const MESSAGES: Record<Lang, Messages> = { en, ko };

const LANG_KEY = 'console.lang';

export function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'en' || saved === 'ko') return saved;
  } catch {
    // storage disabled
  }
  return navigator.language.toLowerCase().startsWith('ko') ? 'ko' : 'en';
}

export function rememberLang(lang: Lang): void {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // storage disabled
  }
  document.documentElement.lang = lang;
}

/** The customer-facing sentence for a failureReason code; unknown codes still read as a sentence. */
export function reasonSentence(t: Messages, code: string | null): string {
  if (!code) return '';
  return t.reasonSentence[code] ?? t.reasonUnknown(code);
}

export const LangContext = createContext<{ t: Messages; setLang: (lang: Lang) => void }>({ t: en, setLang: () => undefined });

export function useT(): Messages {
  return useContext(LangContext).t;
}
