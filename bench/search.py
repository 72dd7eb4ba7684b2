"""Benchmark of History and search over 1,000,000 messages (issue 15).

Fills a dedicated database ``bench_search`` on the embedded PostgreSQL (generate_series in SQL: about a
minute or two) with 4 open channels, 40 operators, --clients clients with names, phones and e-mails,
--conversations conversations over the last year and --messages messages of 4 to 16 words drawn from Polish,
Vietnamese and English (with their diacritics, and a few order numbers), the common words far more often than
the rare ones; builds the migration's GIN indexes, ANALYZEs, then:

1. runs pgbench's simple-update (``bench.reference.pgbench_tps``) as the reference of this run;
2. times the real selector, :func:`channels_app.engine.search.search_conversations` (through the ORM, the
   parameters parsed by ``parse_search`` as the REST view does), one page of 30 results, for an operator of
   one of the 4 channels and for an administrator: a one-word query, a two-word query, a two-word query with a
   filter, a client's phone, and the empty query (the history);

and prints p50 and p95 of each beside the pgbench figure. The goal is p95 ≤ 100 ms.

Usage::

    .venv/bin/python bench/search.py                  # fill once, then measure
    .venv/bin/python bench/search.py --reset          # drop and refill
    .venv/bin/python bench/search.py --messages 50000 --conversations 2500 --reset   # a quick smoke run
    .venv/bin/python bench/search.py --explain        # also EXPLAIN ANALYZE the message query
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.reference import p50_p95, pgbench_tps, timed, use_bench_database  # noqa: E402 -- after the path and settings above

DATABASE = "bench_search"
OPEN_CHANNELS = 4
OPERATORS = 40


def _words(text: str) -> list[str]:
    return text.split()


# Common words first: a word's chance falls with its place in the list (index = n·u², u uniform).
WORDS = _words(
    # Polish
    "dzień dobry proszę dziękuję zamówienie paczka przesyłka kurier faktura fakturę fakturą zwrot reklamacja "
    "płatność przelew konto hasło logowanie adres dostawa termin jutro dzisiaj wczoraj tydzień miesiąc "
    "październik listopad grudzień sklep produkt rozmiar kolor cena rabat kod numer telefon wiadomość pomoc "
    "problem błąd działa nie tak czy jak kiedy gdzie dlaczego można chciałbym chciałabym zapytać sprawdzić "
    "zmienić anulować potwierdzenie gwarancja serwis naprawa uszkodzony zniszczony brakuje część instrukcja "
    "żółty źródło łódź gęś ślub świeży środa piątek sobota niedziela wtorek czwartek poniedziałek "
    # Vietnamese
    "xin chào cảm ơn đơn hàng giao hàng thanh toán hóa đơn hoàn tiền đổi trả sản phẩm giá khuyến mãi "
    "địa chỉ số điện thoại tài khoản mật khẩu đăng nhập lỗi không được vui lòng kiểm tra giúp tôi bạn "
    "hôm nay ngày mai tuần tháng cửa hàng nhân viên bảo hành sửa chữa hư hỏng thiếu màu kích thước "
    # English
    "hello thanks please order parcel delivery invoice refund return payment transfer account password login "
    "address tomorrow today yesterday week month shop product size colour price discount code number phone "
    "message help problem error working not yes can when where why would like ask check change cancel "
    "confirmation warranty service repair damaged broken missing part manual the a to and of is it for my"
)
FIRST_NAMES = _words(
    "Anna Piotr Katarzyna Łukasz Małgorzata Paweł Agnieszka Michał Zofia Jakub Żaneta Grzegorz "
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Đặng Bùi Đỗ Hồ "
    "John Mary James Patricia Robert Jennifer Michael Linda David Elizabeth"
)
LAST_NAMES = _words(
    "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski "
    "Văn Thị Minh Đức Hồng Thanh Quốc Ngọc Hữu Phương "
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Wilson Taylor"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--reset", action="store_true", help="drop and refill the benchmark database")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the two-word message query")
    return parser.parse_args()


def fill(*, messages: int, conversations: int, clients: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from channels_app.models import Connector, ConnectorKind, OpenChannel, OperatorProfile, QueueMember

    User = get_user_model()
    began = time.perf_counter()
    with transaction.atomic():
        channels = [OpenChannel.objects.create(name=f"Bench channel {n + 1}") for n in range(OPEN_CHANNELS)]
        connectors = [
            Connector.objects.create(open_channel=channel, kind=kind, account_id=f"bench-{channel.pk}-{kind}")
            for channel in channels
            for kind in (ConnectorKind.LIVECHAT, ConnectorKind.TELEGRAM)
        ]
        operators = [
            User.objects.create(username=f"operator{n:02d}", first_name="Operator", last_name=f"{n:02d}", password="!")
            for n in range(OPERATORS)
        ]
        OperatorProfile.objects.bulk_create([OperatorProfile(user=user) for user in operators])
        QueueMember.objects.bulk_create(
            QueueMember(open_channel=channels[n % OPEN_CHANNELS], operator=user, position=n)
            for n, user in enumerate(operators)
        )
        User.objects.create(username="bench_admin", is_superuser=True, first_name="Bench", password="!")
        connector_ids = [connector.pk for connector in connectors]
        operator_ids = [user.pk for user in operators]
        with connection.cursor() as cursor:
            # Clients: a name of two languages' parts, a phone in one of three spellings, an e-mail.
            cursor.execute(
                """
                INSERT INTO channels_app_client
                    (id, connector_id, external_id, name, username, phone, email, unverified_email, avatar_url,
                     created_at, unverified_email_given, phone_typed)
                SELECT i, (%(connectors)s::bigint[])[1 + i %% %(connector_count)s], 'c' || i,
                       (%(first)s::text[])[1 + (i * 7) %% %(first_count)s] || ' '
                           || (%(last)s::text[])[1 + (i * 13) %% %(last_count)s],
                       '',
                       CASE i %% 3 WHEN 0 THEN '+48 ' || (600000000 + i * 37 %% 99999999)::text
                                   WHEN 1 THEN (600000000 + i * 37 %% 99999999)::text
                                   ELSE '' END,
                       CASE WHEN i %% 2 = 0 THEN 'client' || i || '@example.com' ELSE '' END,
                       '', '', now(), false, false
                FROM generate_series(1, %(clients)s) AS i
                """,
                {
                    "connectors": connector_ids,
                    "connector_count": len(connector_ids),
                    "first": FIRST_NAMES,
                    "first_count": len(FIRST_NAMES),
                    "last": LAST_NAMES,
                    "last_count": len(LAST_NAMES),
                    "clients": clients,
                },
            )
            print(f"  clients: {clients:,} ({time.perf_counter() - began:.0f} s)", flush=True)
            # Conversations over the last year, mostly closed, one in twenty missed; the client's connector.
            cursor.execute(
                """
                INSERT INTO channels_app_conversation
                    (id, open_channel_id, connector_id, client_id, status, operator_id, first_operator_id,
                     is_unprocessed, created_at, queued_at, last_message_at, last_message_author, bot_unmatched_count,
                     closed_at, closed_by, responses_pending, is_offline_request)
                SELECT i, c.open_channel_id, c.id, cl.id,
                       CASE WHEN i > %(conversations)s - 200 THEN 'active' ELSE 'closed' END,
                       (%(operators)s::int[])[1 + (cl.connector_id / 2 + i * 4) %% %(operator_count)s],
                       NULL, i %% 20 = 0, t.at, t.at, t.at + interval '40 minutes', 'client', 0,
                       CASE WHEN i > %(conversations)s - 200 THEN NULL ELSE t.at + interval '1 hour' END,
                       CASE WHEN i > %(conversations)s - 200 THEN '' ELSE 'operator' END, false, false
                FROM generate_series(1, %(conversations)s) AS i
                JOIN channels_app_client cl ON cl.id = 1 + (i - 1) %% %(clients)s
                JOIN channels_app_connector c ON c.id = cl.connector_id
                CROSS JOIN LATERAL (
                    SELECT now() - interval '365 days' * (1 - i::float / %(conversations)s) AS at
                ) t
                """,
                {
                    "conversations": conversations,
                    "clients": clients,
                    "operators": operator_ids,
                    "operator_count": len(operator_ids),
                },
            )
            # Operators hold only what their channel's queue holds: put each conversation with one of them.
            cursor.execute(
                """
                UPDATE channels_app_conversation c SET operator_id = q.operator_id, first_operator_id = q.operator_id
                FROM (SELECT open_channel_id, min(operator_id) AS operator_id FROM channels_app_queuemember
                      GROUP BY open_channel_id) q
                WHERE q.open_channel_id = c.open_channel_id
                """
            )
            print(f"  conversations: {conversations:,} ({time.perf_counter() - began:.0f} s)", flush=True)
            per_conversation = max(1, messages // conversations)
            cursor.execute(
                """
                INSERT INTO channels_app_message
                    (id, conversation_id, connector_id, author_kind, text, system_key, created_at, delivery,
                     delivery_error, delivery_attempts, delivery_parts_sent, earlier_texts)
                SELECT i, cv.id, cv.connector_id,
                       CASE WHEN i %% 2 = 0 THEN 'client' ELSE 'operator' END,
                       (SELECT string_agg(
                                   CASE WHEN random() < 0.01 THEN (100000 + (random() * 899999)::int)::text
                                        ELSE (%(words)s::text[])[1 + floor(power(random(), 2) * %(word_count)s)::int]
                                   END, ' ')
                        FROM generate_series(1, 4 + (i * 7) %% 13) AS w WHERE w > 0 AND i > 0),
                       '', cv.created_at + (i %% %(per)s) * interval '2 minutes', 'received', '', 0, 0, '[]'
                FROM generate_series(1, %(messages)s) AS i
                JOIN channels_app_conversation cv ON cv.id = 1 + (i - 1) / %(per)s
                """,
                {"words": WORDS, "word_count": len(WORDS), "per": per_conversation, "messages": messages},
            )
            print(f"  messages: {messages:,} ({time.perf_counter() - began:.0f} s)", flush=True)
            for table in ("client", "conversation", "message"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('channels_app_{table}', 'id'), "
                    f"(SELECT max(id) FROM channels_app_{table}))"
                )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  filled and analyzed in {time.perf_counter() - began:.0f} s", flush=True)


QUERIES = [
    ("one word", {"q": "fakture"}),
    ("two words", {"q": "don hang"}),
    ("two words + filter", {"q": "zwrot platnosc", "status": "closed", "source": "telegram"}),
    ("a phone, spaced", {"q": "600 037 000"}),
    ("no words (history)", {}),
]


def measure(runs: int, explain: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from channels_app.engine import search
    from channels_app.models import Message

    User = get_user_model()
    viewers = [
        ("operator (1 of 4 channels)", User.objects.get(username="operator00")),
        ("administrator (all)", User.objects.get(username="bench_admin")),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM channels_app_message")
        total = cursor.fetchone()[0]
    print(f"\n{total:,} messages; pgbench simple-update, 1 client …", flush=True)
    tps = pgbench_tps(clients=1, seconds=PGBENCH_SECONDS)
    print(f"pgbench: {tps:,.0f} tps\n")
    print(f"{'viewer':28} {'query':22} {'results':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for viewer_label, viewer in viewers:
        for label, params in QUERIES:
            filters, cursor = search.parse_search(params)
            page = search.search_conversations(viewer, filters, cursor=cursor)
            samples = timed(lambda: search.search_conversations(viewer, filters, cursor=cursor), runs)  # noqa: B023
            p50, p95 = p50_p95(samples)
            print(f"{viewer_label:28} {label:22} {len(page.hits):>7} {p50:>8.1f} {p95:>8.1f}", flush=True)
    if explain:
        words = search.parse_search({"q": "don hang"})[0].words
        matches = Message.objects.filter(search.Matches(search.MessageWords(), search.WordsQuery(words)))
        sql, params = matches.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n" + "\n".join(row[0] for row in cursor.fetchall()))


PGBENCH_SECONDS = 10


def main() -> None:
    global PGBENCH_SECONDS
    args = parse_args()
    PGBENCH_SECONDS = args.pgbench_seconds
    use_bench_database(DATABASE, reset=args.reset)
    from django.core.management import call_command

    from channels_app.models import Message

    call_command("migrate", verbosity=0)
    existing = Message.objects.count()
    if existing != args.messages:
        if existing:
            sys.exit(f"{DATABASE} holds {existing:,} messages, not {args.messages:,}: rerun with --reset")
        print(f"filling {DATABASE}: {args.messages:,} messages in {args.conversations:,} conversations …", flush=True)
        fill(messages=args.messages, conversations=args.conversations, clients=args.clients)
    measure(args.runs, args.explain)


if __name__ == "__main__":
    main()
