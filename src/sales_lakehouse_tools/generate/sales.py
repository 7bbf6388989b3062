"""Clean sales order lines: stores, channels, customers, calendar patterns and promotions.

Orders are generated day by day (UTC). The number of lines per day follows a weekly
pattern (weekends busier) and seasonality (back-to-school, Black Friday, December);
storewide promotions lift traffic. Each line takes the list price of the product version
valid at the order time, and an applicable promotion is usually taken, with its discount.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate.common import (
    DAY_SECONDS,
    Period,
    discount_cents,
    epoch_of,
    iso_timestamp,
    money,
)
from sales_lakehouse_tools.generate.products import Product
from sales_lakehouse_tools.generate.promotions import PromotionIndex
from sales_lakehouse_tools.generate.sales_profile import (
    ANONYMOUS_IN_STORE,
    ANONYMOUS_ONLINE,
    DEFAULT_CURRENCY,
    LINES_PER_ORDER_CUM,
    MAX_LINES_PER_ORDER,
    ONLINE_CHANNEL_CUM,
    ONLINE_CHANNELS,
    PRICE_NOISE_RATE,
    PROMO_EXTRA_UNIT_RATE,
    PROMO_TAKE_RATE,
    PROMOTED_PICK_RATE,
    QUANTITY_CHEAP,
    QUANTITY_EXPENSIVE,
    QUANTITY_MID,
    STORE_HOUR_CUM,
    STORE_HOURS,
    STORES,
    STOREWIDE_EXTRA_LINE_RATE,
    TS_STYLE_CUM,
    TS_STYLES,
    WEB_HOUR_CUM,
    Store,
    cumulative,
    day_quotas,
)

DATASET = "sales"


# Shared text of the small integers line numbers and quantities take (fewer allocations).
_INT_TEXT = tuple(str(number) for number in range(64))


def file_path(day: date) -> str:
    """Landing path of the monthly sales file exported for the month starting ``day``."""
    return f"{DATASET}/{day.isoformat()}_{DATASET}.csv"


@dataclass(slots=True)
class Order:
    """An order and its lines (contract column order); ids are assigned once sorted.

    ``template`` is a line with the order-level columns filled in (order_ts, store_id,
    customer_id, channel, currency, later order_id); each line starts as a copy of it.
    """

    epoch: int
    ordinal: int
    store: Store
    channel: str
    zero_discount: str
    template: list[str]
    lines: list[list[str]] = field(default_factory=list)
    order_id: str = ""
    terminal: str = ""
    month: int = 0
    next_line: int = 1


class SalesGenerator:
    """Generates clean orders; also builds single lines for the defect injector."""

    def __init__(
        self, rng: random.Random, period: Period, products: list[Product], index: PromotionIndex
    ) -> None:
        """Resolve column positions from the contract and precompute sampling tables."""
        contract = load_contract(DATASET)
        self.columns = contract.column_names
        self.width = len(self.columns)
        self.position = at = {name: i for i, name in enumerate(self.columns)}
        self._order_slots = (
            at["order_ts"],
            at["store_id"],
            at["customer_id"],
            at["channel"],
            at["currency"],
        )
        self._line_slots = (
            at["line_number"],
            at["product_id"],
            at["quantity"],
            at["unit_price"],
            at["discount_amount"],
            at["promotion_id"],
        )
        channels = set(contract.column("channel").allowed or ())
        currencies = set(contract.column("currency").allowed or ())
        if (
            not {"store", *ONLINE_CHANNELS} <= channels
            or not {s.currency for s in STORES} <= currencies
        ):
            raise ValueError("sales contract does not allow the generator's channels/currencies")
        self.rng, self.period, self.index = rng, period, index
        self.products = products
        self.by_id = {p.product_id: p for p in products}
        self._product_cum = cumulative([p.weight for p in products])
        self._pools: dict[str, tuple[list[Product], list[float]]] = {}
        for product in products:
            self._pools.setdefault(product.versions[0].category, ([], []))[0].append(product)
        for members, cum in self._pools.values():
            cum.extend(cumulative([p.weight for p in members]))
        self._store_cum = cumulative([s.weight for s in STORES])
        self._customers = max(100, len(products) * 60)
        self._sequence = 0

    def orders(self, target: int) -> list[list[Order]]:
        """Exactly ``target`` clean lines as orders, grouped by calendar month (UTC)."""
        months = self.period.months()
        days = self.period.dates()
        storewide = [self.index.storewide(day.toordinal()) for day in days]
        quotas = day_quotas(self.rng, days, storewide, target)
        result: list[list[Order]] = [[] for _ in months]
        month = 0
        for day, quota in zip(days, quotas, strict=True):
            while day > months[month][1]:
                month += 1
            for order in self._day_orders(day, quota):
                self._assign_id(order, month)
                result[month].append(order)
        return result

    def _day_orders(self, day: date, quota: int) -> list[Order]:
        """Orders of one UTC day totalling ``quota`` lines, in time order."""
        orders = []
        ordinal, midnight = day.toordinal(), epoch_of(day)
        storewide = self.index.storewide(ordinal)
        while quota > 0:
            order = self._new_order(ordinal, midnight)
            count = bisect(LINES_PER_ORDER_CUM, self.rng.random()) + 1
            if storewide and self.rng.random() < STOREWIDE_EXTRA_LINE_RATE:
                count = min(count + 1, MAX_LINES_PER_ORDER)
            count = min(count, quota)
            order.lines = [self.line(order, number) for number in range(1, count + 1)]
            order.next_line = count + 1
            quota -= count
            orders.append(order)
        orders.sort(key=attrgetter("epoch"))
        return orders

    def _assign_id(self, order: Order, month: int) -> None:
        """Give a time-ordered order its id (store prefix, global sequence) and terminal."""
        self._sequence += 1
        order.order_id = f"{order.store.store_id}-{self._sequence:07d}"
        order.month = month
        suffix = order.channel.upper() if order.store.online else f"POS{self._sequence % 4 + 1:02d}"
        order.terminal = f"{order.store.store_id}-{suffix}"
        slot = self.position["order_id"]
        order.template[slot] = order.order_id
        for line in order.lines:
            line[slot] = order.order_id

    def _new_order(self, ordinal: int, midnight: int) -> Order:
        """An order header: store, channel, time of day, customer, currency, text styles."""
        random_ = self.rng.random
        store = STORES[bisect(self._store_cum, random_())]
        seconds_into_hour = int(random_() * 3600)
        if store.online:
            channel = ONLINE_CHANNELS[bisect(ONLINE_CHANNEL_CUM, random_())]
            seconds = bisect(WEB_HOUR_CUM, random_()) * 3600 + seconds_into_hour
        else:
            channel = "store"
            hour = STORE_HOURS[bisect(STORE_HOUR_CUM, random_())]
            # Opening hours are local; the instant stays inside the UTC day being generated.
            seconds = (hour * 3600 + seconds_into_hour - store.offset_minutes * 60) % DAY_SECONDS
        epoch = midnight + seconds
        anonymous = ANONYMOUS_ONLINE if store.online else ANONYMOUS_IN_STORE
        customer = ""
        if random_() >= anonymous:
            # Skewed so that loyal customers come back.
            customer = f"C{int(self._customers * random_() ** 2) + 1:07d}"
        style = TS_STYLES[bisect(TS_STYLE_CUM, random_())]
        template = [""] * self.width
        order_ts, store_id, customer_id, channel_id, currency = self._order_slots
        template[order_ts] = iso_timestamp(epoch, style, store.offset_minutes)
        template[store_id] = store.store_id
        template[customer_id] = customer
        template[channel_id] = channel
        template[currency] = self._currency(store)
        zero_discount = "" if random_() < 0.5 else "0.00"
        return Order(epoch, ordinal, store, channel, zero_discount, template)

    def _currency(self, store: Store) -> str:
        """The currency text: foreign stores always state it, USD is mostly left empty."""
        roll = self.rng.random()
        if store.currency != DEFAULT_CURRENCY:
            return store.currency
        if store.online and roll < 0.08:
            # Marketplace and web buyers abroad pay in their own currency.
            return ("EUR", "GBP", "CAD")[bisect((0.04, 0.065), roll)]
        return "" if roll < 0.70 else DEFAULT_CURRENCY

    def pick_product(self, ordinal: int, promoted: bool = True) -> Product:
        """A product by popularity; promoted products get extra picks (promotion effect)."""
        random_ = self.rng.random
        if promoted and random_() < PROMOTED_PICK_RATE:
            targeted = self.index.targeted(ordinal)
            if targeted:
                promo = targeted[int(random_() * len(targeted))]
                if promo.product_id:
                    return self.by_id[promo.product_id]
                if promo.category in self._pools:
                    members, cum = self._pools[promo.category]
                    return members[bisect(cum, random_())]
        return self.products[bisect(self._product_cum, random_())]

    def quantity(self, price: int) -> int:
        """Units on a line, fewer the more expensive the product (price in cents)."""
        if price < 5_000:
            table = QUANTITY_CHEAP
        elif price < 30_000:
            table = QUANTITY_MID
        else:
            table = QUANTITY_EXPENSIVE
        return bisect(table, self.rng.random()) + 1

    def line(self, order: Order, number: int, *, promoted: bool = True) -> list[str]:
        """One order line; without ``promoted`` it never carries a promotion."""
        random_ = self.rng.random
        product = self.pick_product(order.ordinal, promoted)
        version = product.at(order.epoch)
        price = version.list_price
        if random_() < PRICE_NOISE_RATE:
            # Price matching and rounding at the till move the price a little.
            price = max(1, round(price * (0.98 + 0.04 * random_())))
        quantity = self.quantity(price)
        promo = None
        if promoted:
            promo = self.index.best(
                order.ordinal, product.product_id, version.category, order.channel
            )
        if promo is None or random_() >= PROMO_TAKE_RATE:
            return self.row(
                order,
                number,
                product_id=product.product_id,
                quantity=quantity,
                price=price,
                discount=order.zero_discount,
            )
        if random_() < PROMO_EXTRA_UNIT_RATE:
            # A promotion sells more units.
            quantity += 1
        return self.row(
            order,
            number,
            product_id=product.product_id,
            quantity=quantity,
            price=price,
            discount=money(discount_cents(quantity, price, promo.pct)),
            promotion_id=promo.promotion_id,
        )

    def row(
        self,
        order: Order,
        number: int,
        *,
        product_id: str,
        quantity: int,
        price: int,
        discount: str,
        promotion_id: str = "",
    ) -> list[str]:
        """A line as text in contract column order (columns it does not know stay empty)."""
        row = order.template.copy()
        line, product, units, unit_price, discount_amount, promotion = self._line_slots
        row[line] = _INT_TEXT[number] if 0 <= number < len(_INT_TEXT) else str(number)
        row[product] = product_id
        row[units] = _INT_TEXT[quantity] if 0 <= quantity < len(_INT_TEXT) else str(quantity)
        row[unit_price] = money(price)
        row[discount_amount] = discount
        row[promotion] = promotion_id
        return row
