// Deterministic JSON Lines content of a Mews export file: real-looking records of the export's
// entity type, a pure function of (export id, enterprise, entity type, creation time, file index,
// file size). The file is cut into blocks of 64 KiB (the last block takes the remainder) that are
// each a whole number of lines, exactly that many bytes long: the last line of a block carries a
// `Notes` text sized to fill it. So the size is known without generating anything (`SizeInBytes`
// of thousands of exports costs nothing) and a Range request generates only the blocks it covers.
import { prng, type Rand } from '../lib/prng.js';

export const MEWS_ENTITY_TYPES = ['OrderItem', 'Payment', 'Reservation', 'Customer', 'Company', 'Bill', 'AvailabilityAdjustment', 'AvailabilityBlock', 'ResourceBlock'] as const;
export type MewsEntityType = (typeof MEWS_ENTITY_TYPES)[number];

export function isMewsEntityType(value: unknown): value is MewsEntityType {
  return typeof value === 'string' && (MEWS_ENTITY_TYPES as readonly string[]).includes(value);
}

export interface MewsFileSpec {
  exportId: string;
  enterpriseId: string;
  entityType: MewsEntityType;
  /** Export creation (sandbox ms): record times lie in the year before it. */
  createdAt: number;
  index: number;
  size: number;
}

/** Smallest file: room for one record of any type plus its `Notes` filler. */
export const MIN_FILE_BYTES = 1024;
const BLOCK_BYTES = 64 * 1024;
/** A block stops adding ordinary records when less than this would remain for the last one. */
const RESERVE = 1024;
const YEAR_MS = 365 * 86_400_000;

/** Sizes of the files of an export: `total` spread evenly over ceil(total / partBytes) files. */
export function fileSizes(total: number, partBytes: number): number[] {
  const count = Math.max(1, Math.ceil(total / partBytes));
  const base = Math.floor(total / count);
  return Array.from({ length: count }, (_, i) => base + (i < total % count ? 1 : 0));
}

function blockCount(size: number): number {
  return Math.max(1, Math.floor(size / BLOCK_BYTES));
}

function blockSize(size: number, block: number): number {
  const count = blockCount(size);
  return block < count - 1 ? BLOCK_BYTES : size - (count - 1) * BLOCK_BYTES;
}

function uuid(r: Rand): string {
  let hex = '';
  for (let i = 0; i < 4; i += 1)
    hex += Math.floor(r() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${'89ab'[Math.floor(r() * 4)] ?? '8'}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;
const int = (r: Rand, min: number, max: number): number => min + Math.floor(r() * (max - min + 1));
const iso = (ms: number): string => new Date(ms).toISOString();
const money = (r: Rand, min: number, max: number): number => Math.round((min + r() * (max - min)) * 100) / 100;

const FIRST_NAMES = ['Anna', 'Jiří', 'Lukas', 'Sofia', 'Mateo', 'Chloé', 'Oliver', 'Zoë', 'Björn', 'Amelia', 'Noah', 'Léa', 'Tomáš', 'Emma', 'Hiro'];
const LAST_NAMES = ['Novák', 'Müller', 'García', 'Smith', 'Dubois', 'Rossi', 'Nowak', 'Jensen', 'Svoboda', 'Tanaka', 'Brown', 'Fischer', "O'Brien"];
const CITIES = [
  ['Prague', 'CZ', '110 00'],
  ['Berlin', 'DE', '10115'],
  ['Amsterdam', 'NL', '1012 AB'],
  ['London', 'GB', 'EC1A 1BB'],
  ['Paris', 'FR', '75001'],
  ['Lisbon', 'PT', '1100-148'],
] as const;
const STREETS = ['Main Street', 'Václavské náměstí', 'Unter den Linden', 'Rue de Rivoli', 'Damrak', 'Rua Augusta'];
const COMPANIES = ['Acme Travel', 'Globex Corporation', 'Initech', 'Umbrella Events', 'Stark Logistics', 'Wayne Hospitality', 'Hooli', 'Vandelay Industries'];
const CURRENCIES = ['EUR', 'CZK', 'GBP', 'USD'] as const;
const NOTE_WORDS =
  'guest requested late check-out extra pillows quiet room high floor airport transfer breakfast included invoice to company allergy gluten free anniversary flowers on arrival parking space needed '.split(
    ' ',
  );

/** ASCII text of exactly `length` bytes (whole words, then letters). */
function filler(r: Rand, length: number): string {
  let text = '';
  while (text.length < length) text += (text === '' ? '' : ' ') + pick(r, NOTE_WORDS);
  return text.slice(0, length);
}

function amount(r: Rand, currency: string, gross: number): Record<string, unknown> {
  const rate = pick(r, [0, 0.1, 0.12, 0.21]);
  const net = Math.round((gross / (1 + rate)) * 100) / 100;
  return {
    Currency: currency,
    NetValue: net,
    GrossValue: gross,
    TaxValues: rate === 0 ? [] : [{ Code: `${currency.slice(0, 2)}-${Math.round(rate * 100)}`, Value: Math.round((gross - net) * 100) / 100 }],
  };
}

interface RecordContext {
  r: Rand;
  enterpriseId: string;
  /** Sequence number of the record within the export. */
  n: number;
  /** A time in the year before the export. */
  at: number;
}

type RecordMaker = (c: RecordContext) => Record<string, unknown>;

const MAKERS: Readonly<Record<MewsEntityType, RecordMaker>> = {
  OrderItem: ({ r, enterpriseId, at }) => {
    const currency = pick(r, CURRENCIES);
    const units = int(r, 1, 5);
    const unit = money(r, 5, 300);
    return {
      Id: uuid(r),
      EnterpriseId: enterpriseId,
      AccountId: uuid(r),
      AccountType: pick(r, ['Customer', 'Company']),
      ServiceId: uuid(r),
      ServiceOrderId: uuid(r),
      BillId: r() < 0.8 ? uuid(r) : null,
      AccountingCategoryId: uuid(r),
      UnitCount: units,
      UnitAmount: amount(r, currency, unit),
      Amount: amount(r, currency, Math.round(unit * units * 100) / 100),
      RevenueType: pick(r, ['Service', 'Product', 'Additional']),
      ConsumedUtc: iso(at),
      ClosedUtc: r() < 0.7 ? iso(at + 86_400_000) : null,
      AccountingState: pick(r, ['Open', 'Closed', 'Inactive']),
      Type: pick(r, ['SpaceOrder', 'ProductOrder', 'CityTax', 'Deposit']),
      Options: { CanceledWithReservation: r() < 0.05 },
      CreatedUtc: iso(at - 3_600_000),
      UpdatedUtc: iso(at + 7_200_000),
    };
  },
  Payment: ({ r, enterpriseId, at }) => {
    const currency = pick(r, CURRENCIES);
    const gross = money(r, 10, 2500);
    return {
      Id: uuid(r),
      EnterpriseId: enterpriseId,
      AccountId: uuid(r),
      AccountType: 'Customer',
      BillId: uuid(r),
      AccountingCategoryId: uuid(r),
      Amount: amount(r, currency, gross),
      OriginalAmount: amount(r, currency, gross),
      Notes: null,
      SettlementId: r() < 0.5 ? `SETTLE-${int(r, 100000, 999999)}` : null,
      ConsumedUtc: iso(at),
      ClosedUtc: iso(at + 60_000),
      AccountingState: 'Closed',
      State: pick(r, ['Charged', 'Pending', 'Verifying']),
      Identifier: `PAY-${int(r, 1000000, 9999999)}`,
      Type: pick(r, ['CreditCardPayment', 'CashPayment', 'InvoicePayment', 'AlternativePayment']),
      Kind: 'Payment',
      CreatedUtc: iso(at),
      UpdatedUtc: iso(at + 60_000),
    };
  },
  Reservation: ({ r, n, at }) => {
    const nights = int(r, 1, 7);
    const start = at - (at % 86_400_000) + 14 * 3_600_000;
    return {
      Id: uuid(r),
      ServiceId: uuid(r),
      AccountId: uuid(r),
      AccountType: 'Customer',
      BookerId: r() < 0.3 ? uuid(r) : null,
      Number: String(10000 + n),
      State: pick(r, ['Confirmed', 'Started', 'Processed', 'Canceled', 'Optional']),
      Origin: pick(r, ['Distributor', 'ChannelManager', 'Connector', 'Commander']),
      CreatedUtc: iso(at - 20 * 86_400_000),
      UpdatedUtc: iso(at),
      CancelledUtc: null,
      RateId: uuid(r),
      GroupId: uuid(r),
      RequestedResourceCategoryId: uuid(r),
      AssignedResourceId: r() < 0.8 ? uuid(r) : null,
      ChannelNumber: r() < 0.4 ? String(int(r, 100000000, 999999999)) : null,
      ScheduledStartUtc: iso(start),
      ScheduledEndUtc: iso(start + nights * 86_400_000 - 4 * 3_600_000),
      Purpose: pick(r, ['Leisure', 'Business', 'Student']),
      PersonCounts: [{ AgeCategoryId: uuid(r), Count: int(r, 1, 3) }],
    };
  },
  Customer: ({ r, n, at }) => {
    const first = pick(r, FIRST_NAMES);
    const last = pick(r, LAST_NAMES);
    const [city, country, postal] = pick(r, CITIES);
    return {
      Id: uuid(r),
      ChainId: uuid(r),
      Number: String(100000 + n),
      Title: pick(r, ['Mister', 'Misses', 'Miss', null]),
      Sex: pick(r, ['Male', 'Female', null]),
      FirstName: first,
      LastName: last,
      NationalityCode: country,
      LanguageCode: pick(r, ['en-US', 'cs-CZ', 'de-DE', 'fr-FR']),
      BirthDate: `${int(r, 1950, 2004)}-${String(int(r, 1, 12)).padStart(2, '0')}-${String(int(r, 1, 28)).padStart(2, '0')}`,
      Email: `${first}.${last}.${n}@example.com`
        .normalize('NFD')
        .toLowerCase()
        .replace(/[^a-z0-9.@]/g, ''),
      Phone: `+420 ${int(r, 600, 799)} ${int(r, 100, 999)} ${int(r, 100, 999)}`,
      LoyaltyCode: r() < 0.3 ? `LOY${int(r, 10000, 99999)}` : null,
      Notes: null,
      Address: { Line1: `${pick(r, STREETS)} ${int(r, 1, 200)}`, City: city, PostalCode: postal, CountryCode: country },
      Classifications: r() < 0.2 ? ['Returning'] : [],
      Options: r() < 0.1 ? ['SendMarketingEmails'] : [],
      IsActive: true,
      CreatedUtc: iso(at - 30 * 86_400_000),
      UpdatedUtc: iso(at),
    };
  },
  Company: ({ r, n, at }) => {
    const [city, country, postal] = pick(r, CITIES);
    return {
      Id: uuid(r),
      ChainId: uuid(r),
      Name: `${pick(r, COMPANIES)} ${n}`,
      Number: n,
      Identifier: String(int(r, 10000000, 99999999)),
      TaxIdentifier: `${country}${int(r, 10000000, 99999999)}`,
      BillingCode: null,
      AccountingCode: `AC-${int(r, 100, 999)}`,
      Address: { Line1: `${pick(r, STREETS)} ${int(r, 1, 200)}`, City: city, PostalCode: postal, CountryCode: country },
      InvoiceDueInterval: pick(r, ['P14D', 'P30D', 'P7D']),
      Options: { Invoiceable: r() < 0.7, AddFeesToInvoices: r() < 0.2 },
      CreditRating: { Basic: pick(r, ['CreditOk', 'PaymentRequiredUpfront']) },
      Email: `billing${n}@example.com`,
      Phone: `+44 20 ${int(r, 1000, 9999)} ${int(r, 1000, 9999)}`,
      IsActive: true,
      CreatedUtc: iso(at - 90 * 86_400_000),
      UpdatedUtc: iso(at),
    };
  },
  Bill: ({ r, enterpriseId, n, at }) => {
    const closed = r() < 0.7;
    return {
      Id: uuid(r),
      Name: r() < 0.5 ? 'Accommodation' : null,
      EnterpriseId: enterpriseId,
      AccountId: uuid(r),
      AccountType: pick(r, ['Customer', 'Company']),
      CounterId: closed ? uuid(r) : null,
      State: closed ? 'Closed' : 'Open',
      Type: closed ? pick(r, ['Receipt', 'Invoice']) : null,
      Number: closed ? String(2024000 + n) : null,
      VariableSymbol: closed ? String(int(r, 100000, 999999)) : null,
      CreatedUtc: iso(at - 3 * 86_400_000),
      IssuedUtc: closed ? iso(at) : null,
      TaxedUtc: closed ? iso(at) : null,
      PaidUtc: closed && r() < 0.8 ? iso(at + 86_400_000) : null,
      DueUtc: closed ? iso(at + 14 * 86_400_000) : null,
      UpdatedUtc: iso(at),
      PurchaseOrderNumber: null,
      Notes: null,
      Options: { DisplayCustomer: true, DisplayTaxation: r() < 0.5, TrackReceivable: true, DisplayCid: false, Rebated: false },
    };
  },
  AvailabilityAdjustment: ({ r, at }) => {
    const start = at - (at % 86_400_000);
    const days = int(r, 1, 14);
    return {
      Id: uuid(r),
      AvailabilityBlockId: r() < 0.5 ? uuid(r) : null,
      ResourceCategoryId: uuid(r),
      StartUtc: iso(start),
      EndUtc: iso(start + days * 86_400_000),
      FirstTimeUnitStartUtc: iso(start),
      LastTimeUnitStartUtc: iso(start + (days - 1) * 86_400_000),
      UnitCount: int(r, -5, 10),
      ActivityState: pick(r, ['Active', 'Deleted']),
      UpdatedUtc: iso(at),
    };
  },
  AvailabilityBlock: ({ r, enterpriseId, n, at }) => {
    const start = at - (at % 86_400_000);
    const currency = pick(r, CURRENCIES);
    return {
      Id: uuid(r),
      EnterpriseId: enterpriseId,
      ServiceId: uuid(r),
      RateId: uuid(r),
      VoucherId: null,
      BookerId: uuid(r),
      CompanyId: r() < 0.6 ? uuid(r) : null,
      Budget: { Value: money(r, 500, 50000), Currency: currency },
      State: pick(r, ['Confirmed', 'Optional', 'Inquired', 'Canceled']),
      ReservationPurpose: pick(r, ['Leisure', 'Business']),
      CreatedUtc: iso(at - 60 * 86_400_000),
      UpdatedUtc: iso(at),
      FirstTimeUnitStartUtc: iso(start),
      LastTimeUnitStartUtc: iso(start + int(r, 1, 10) * 86_400_000),
      ReleasedUtc: iso(start - 7 * 86_400_000),
      ExternalIdentifier: `BLK-${n}`,
      Name: `${pick(r, COMPANIES)} conference`,
      PickupDistribution: pick(r, ['AllInOneGroup', 'IndividualGroups']),
      IsActive: true,
      AvailabilityBlockNumber: String(5000 + n),
      ReleaseStrategy: pick(r, ['FixedRelease', 'RollingRelease', 'None']),
    };
  },
  ResourceBlock: ({ r, enterpriseId, at }) => {
    const start = at - (at % 3_600_000);
    return {
      Id: uuid(r),
      EnterpriseId: enterpriseId,
      AssignedResourceId: uuid(r),
      IsActive: r() < 0.9,
      Type: pick(r, ['OutOfOrder', 'InternalUse']),
      StartUtc: iso(start),
      EndUtc: iso(start + int(r, 1, 72) * 3_600_000),
      CreatedUtc: iso(at - 86_400_000),
      UpdatedUtc: iso(at),
      DeletedUtc: null,
      Name: pick(r, ['Renovation', 'Maintenance', 'Deep cleaning', 'Staff use']),
      Notes: null,
    };
  },
};

/** One block: whole lines, exactly `blockSize` bytes; the last line's `Notes` fills the block. */
function renderBlock(spec: MewsFileSpec, block: number): Buffer {
  const target = blockSize(spec.size, block);
  const r = prng(`${spec.exportId}|${spec.enterpriseId}|${spec.entityType}|${spec.index}|${block}`);
  const make = MAKERS[spec.entityType];
  const lines: string[] = [];
  let remaining = target;
  for (let k = 0; ; k += 1) {
    const n = spec.index * 10_000_000 + block * 10_000 + k + 1;
    const record = make({ r, enterpriseId: spec.enterpriseId, n, at: spec.createdAt - Math.floor(r() * YEAR_MS) });
    const line = JSON.stringify({ ...record, Notes: null });
    const bytes = Buffer.byteLength(line) + 1;
    if (remaining - bytes >= RESERVE) {
      lines.push(line);
      remaining -= bytes;
      continue;
    }
    // The last line: the same record with a Notes text that makes the block exactly `target` bytes.
    const empty = Buffer.byteLength(JSON.stringify({ ...record, Notes: '' })) + 1;
    lines.push(JSON.stringify({ ...record, Notes: filler(r, remaining - empty) }));
    return Buffer.from(lines.join('\n') + '\n');
  }
}

/** The bytes `start`..`end` (inclusive) of the file, generated block by block. */
export function* fileBytes(spec: MewsFileSpec, start: number, end: number): Generator<Buffer> {
  const count = blockCount(spec.size);
  let block = Math.min(count - 1, Math.floor(start / BLOCK_BYTES));
  let offset = block * BLOCK_BYTES;
  while (offset <= end && block < count) {
    const data = renderBlock(spec, block);
    const from = Math.max(0, start - offset);
    const to = Math.min(data.length, end - offset + 1);
    if (to > from) yield data.subarray(from, to);
    offset += data.length;
    block += 1;
  }
}
