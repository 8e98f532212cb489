"""Dataset readers: contract events out, every skipped row counted by reason."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.errors import LifecycleError
from streams.events import normalize_event
from streams.replay.errors import SourceError, UnknownFormat
from streams.replay.sources import detect_format, read_events

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TAOBAO_FILE = DATA_DIR / "taobao-userbehavior" / "UserBehavior_head110k.csv"
CDNOW_MASTER = DATA_DIR / "cdnow" / "CDNOW_master.txt"
CDNOW_SAMPLE = DATA_DIR / "cdnow" / "CDNOW_sample.txt"
ONLINE_RETAIL_FILE = DATA_DIR / "online-retail" / "online_retail_II_2009-2011.csv.gz"

ONLINE_RETAIL_HEADER = (
    "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
)
RETAILROCKET_HEADER = "timestamp,visitorid,event,itemid,transactionid"
REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,"
    "user_id,user_session"
)


def utc_ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def write(tmp_path):
    """Factory: write text to a file in tmp_path, gzip-compressed if asked."""

    def _write(name: str, text: str, *, compress: bool = False) -> Path:
        path = tmp_path / name
        data = text.encode()
        path.write_bytes(gzip.compress(data) if compress else data)
        return path

    return _write


def read_all(path, fmt="auto", **kwargs):
    stats: Counter[str] = Counter()
    events = list(read_events(path, fmt, stats, **kwargs))
    return events, stats


# Taobao


def test_taobao_behaviours_become_contract_types_with_ms_times(write):
    path = write("UserBehavior.csv", (
        "1,10,100,pv,1511658000\n"
        "2,20,200,cart,1511658001\n"
        "3,30,300,fav,1511658002\n"
        "4,40,400,buy,1511658003\n"
    ))

    events, stats = read_all(path)

    assert [e["event_type"] for e in events] == [
        "view", "cart_add", "favorite", "purchase",
    ]
    assert events[0] == {
        "event_id": "taobao:1",
        "user_id": "1",
        "event_type": "view",
        "event_ts": 1_511_658_000_000,
        "item_id": "10",
        "category_id": "100",
    }
    assert events[3]["event_id"] == "taobao:4"
    assert stats == Counter()


def test_taobao_bad_rows_are_counted_by_reason(write):
    path = write("UserBehavior.csv", (
        "1,10,100,pv,1511658000\n"
        "2,20,200,pv\n"
        "3,30,300,click,1511658002\n"
        "4,40,400,pv,yesterday\n"
        "\n"
        "5,50,500,buy,1511658004\n"
    ))

    events, stats = read_all(path, "taobao")

    assert [e["event_id"] for e in events] == ["taobao:1", "taobao:6"]
    assert stats == Counter(
        bad_row=1, unknown_event_type=1, invalid_timestamp=1, blank_line=1
    )


def test_gzip_file_reads_like_the_plain_one(write):
    text = "1,10,100,pv,1511658000\n2,20,200,buy,1511658060\n"
    plain = write("UserBehavior.csv", text)
    packed = write("UserBehavior_copy.csv.gz", text, compress=True)

    assert detect_format(packed) == "taobao"
    assert read_all(packed) == read_all(plain)


def test_rows_are_read_lazily_so_a_late_bad_row_is_counted_only_when_reached(write):
    path = write("UserBehavior.csv", "1,10,100,pv,1511658000\nbroken\n")
    stats: Counter[str] = Counter()

    events = read_events(path, "taobao", stats)
    first = next(events)

    assert first["event_id"] == "taobao:1"
    assert stats == Counter()
    assert list(events) == []
    assert stats == Counter(bad_row=1)


# CDNOW


def test_cdnow_master_skips_header_and_reads_purchases_at_midnight_utc(write):
    path = write("CDNOW_master.txt", (
        " customer_id  date number_of_cds  dollar_value\r\n"
        " 00001 19970101  1   11.77\r\n"
        " 00002 19970112  2   12.00\r\n"
    ))

    events, stats = read_all(path)

    assert events == [
        {
            "event_id": "cdnow:2",
            "user_id": "1",
            "event_type": "purchase",
            "event_ts": utc_ms(1997, 1, 1),
            "price": 11.77,
            "quantity": 1,
        },
        {
            "event_id": "cdnow:3",
            "user_id": "2",
            "event_type": "purchase",
            "event_ts": utc_ms(1997, 1, 12),
            "price": 6.0,
            "quantity": 2,
        },
    ]
    assert stats == Counter()


def test_cdnow_zero_cds_keep_the_dollar_value_as_price_of_one(write):
    path = write(
        "CDNOW_master.txt", " 00003 19970301  0    0.00\r\n 00003 19970301  0  5.5\r\n"
    )

    events, _ = read_all(path)

    assert [(e["price"], e["quantity"]) for e in events] == [(0.0, 1), (5.5, 1)]


def test_cdnow_duplicate_rows_stay_separate_events_with_distinct_ids(write):
    row = " 00007 19970405  1   15.36\r\n"
    path = write("CDNOW_master.txt", row * 3)

    events, _ = read_all(path)

    assert [e["event_id"] for e in events] == ["cdnow:1", "cdnow:2", "cdnow:3"]
    assert len({(e["user_id"], e["event_ts"], e["price"]) for e in events}) == 1


def test_cdnow_sample_uses_the_master_id_and_its_own_id_prefix(write):
    path = write("CDNOW_sample.txt", (
        " 00004 0001 19970101  2   29.33\r\n"
        " 00018 0002 19970102  1   14.96\r\n"
    ))

    events, stats = read_all(path)

    assert [e["user_id"] for e in events] == ["4", "18"]
    assert [e["event_id"] for e in events] == ["cdnow-sample:1", "cdnow-sample:2"]
    assert events[0]["price"] == pytest.approx(14.665)
    assert events[0]["quantity"] == 2
    assert stats == Counter()


def test_cdnow_malformed_rows_are_counted(write):
    path = write("CDNOW_master.txt", (
        " 00001 19970101  1   11.77\r\n"
        " 00001 19970101  1\r\n"
        " 0000x 19970101  1   11.77\r\n"
        " 00001 19971301  1   11.77\r\n"
        " 00001 19970101  1   -1.00\r\n"
    ))

    events, stats = read_all(path)

    assert len(events) == 1
    assert stats == Counter(bad_row=2, invalid_timestamp=1, negative_price=1)


# Online Retail II


def online_retail(write, *rows: str) -> Path:
    text = "\n".join([ONLINE_RETAIL_HEADER, *rows]) + "\n"
    return write("online_retail_fixture.csv.gz", text, compress=True)


def test_online_retail_summer_time_is_bst_and_becomes_utc(write):
    path = online_retail(
        write,
        "536365,85123A,HEART,6,2011-06-01 12:00:00,2.55,17850.0,United Kingdom",
    )

    events, _ = read_all(path)

    assert events[0]["event_ts"] == utc_ms(2011, 6, 1, 11, 0)


def test_online_retail_winter_time_is_gmt_and_equals_utc(write):
    path = online_retail(
        write,
        "489434,85048,BALL,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom",
    )

    events, _ = read_all(path)

    assert events == [{
        "event_id": "online-retail:2",
        "user_id": "13085",
        "event_type": "purchase",
        "event_ts": utc_ms(2009, 12, 1, 7, 45),
        "item_id": "85048",
        "price": 6.95,
        "quantity": 12,
        "order_id": "489434",
    }]


def test_online_retail_cancellation_becomes_refund_with_positive_quantity(write):
    path = online_retail(
        write,
        "C489449,22087,PAPER BUNTING,-12,2009-12-01 10:33:00,2.95,16321.0,Australia",
    )

    events, _ = read_all(path)

    assert len(events) == 1
    assert events[0]["event_type"] == "refund"
    assert events[0]["quantity"] == 12
    assert events[0]["order_id"] == "C489449"


def test_online_retail_skips_guests_adjustments_and_wrong_signs_with_reasons(write):
    path = online_retail(
        write,
        "489434,85048,BALL,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom",
        "489435,22350,CAT,12,2009-12-01 07:46:00,2.55,,United Kingdom",
        'A563185,B,"Adjust bad debt",1,2011-08-12 14:50:00,11062.06,,United Kingdom',
        "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,12346.0,UK",
        "489436,21523,MAT,-3,2009-12-01 09:06:00,5.95,13078.0,United Kingdom",
        "C489437,21523,MAT,3,2009-12-01 09:06:00,5.95,13078.0,United Kingdom",
        "489438,21523,MAT,3,2009-12-01 09:06:00,-5.95,13078.0,United Kingdom",
        "489439,21523,MAT,lots,2009-12-01 09:06:00,5.95,13078.0,United Kingdom",
    )

    events, stats = read_all(path)

    assert [e["order_id"] for e in events] == ["489434"]
    assert stats == Counter(
        guest_row=2,
        adjustment=1,
        nonpositive_quantity=2,
        negative_price=1,
        bad_row=1,
    )


def test_online_retail_quoted_description_with_comma_keeps_columns(write):
    path = online_retail(
        write,
        '489434,22041,"RECORD FRAME 7"" SINGLE, SIZE ",48,2009-12-01 07:45:00,2.1,'
        "13085.0,United Kingdom",
    )

    events, _ = read_all(path)

    assert (events[0]["item_id"], events[0]["quantity"], events[0]["price"]) == (
        "22041", 48, 2.1,
    )


def test_online_retail_file_without_required_column_is_rejected(write):
    path = write("online_retail_bad.csv", "Invoice,StockCode,Quantity\n1,2,3\n")

    with pytest.raises(SourceError, match="Customer ID"):
        read_all(path)


# RetailRocket and REES46


def test_retailrocket_events_map_types_and_transaction_ids(write):
    path = write("events.csv", "\n".join([
        RETAILROCKET_HEADER,
        "1433221332117,257597,view,355908,",
        "1433224214164,992329,addtocart,248676,",
        "1433221999827,111016,transaction,7943,4000",
        "1433221999828,111016,wishlist,7943,",
    ]) + "\n")

    events, stats = read_all(path)

    assert [e["event_type"] for e in events] == ["view", "cart_add", "purchase"]
    assert events[0] == {
        "event_id": "retailrocket:2",
        "user_id": "257597",
        "event_type": "view",
        "event_ts": 1_433_221_332_117,
        "item_id": "355908",
    }
    assert events[2]["order_id"] == "4000"
    assert "order_id" not in events[1]
    assert stats == Counter(unknown_event_type=1)


def test_rees46_events_keep_session_price_and_utc_time(write):
    path = write("2019-Oct.csv", "\n".join([
        REES46_HEADER,
        "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,"
        "541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c",
        "2019-10-01 00:00:05 UTC,cart,3900821,2053013552326770905,appliances,aqua,"
        "33.20,554748717,9333dfbd",
        "2019-10-01 00:00:07 UTC,remove_from_cart,3900821,2053013552326770905,,,"
        "33.20,554748717,9333dfbd",
        "2019-10-01 00:01:00 UTC,purchase,3900821,2053013552326770905,,,33.20,"
        "554748717,",
        "not a time,view,1,2,,,1.0,3,s",
    ]) + "\n")

    events, stats = read_all(path)

    assert detect_format(path) == "rees46"
    assert [e["event_type"] for e in events] == [
        "view", "cart_add", "cart_remove", "purchase",
    ]
    assert events[0] == {
        "event_id": "rees46:2",
        "user_id": "541312140",
        "event_type": "view",
        "event_ts": utc_ms(2019, 10, 1),
        "item_id": "44600062",
        "category_id": "2103807459595387724",
        "price": 35.79,
        "session_id": "72d76fde-8bb3-4e00-8c23-a032dfed738c",
    }
    assert "session_id" not in events[3]
    assert stats == Counter(invalid_timestamp=1)


# Generic CSV and JSON lines


def test_mapped_csv_renames_columns_translates_types_and_counts_bad_rows(write):
    path = write("shop_export.csv", "\n".join([
        "customer,action,when,sku,amount,units",
        "u1,click,2024-03-01T10:00:00+00:00,A1,9.5,2",
        "u2,buy,1709287200,B2,20,1",
        "u3,click,2024-03-01 10:00:00,A1,,",
        "u4,hover,1709287200,A1,,",
        ",click,1709287200,A1,,",
        "u5,buy,1709287200,B2,-1,1",
        "u6,buy,1709287200,B2,3,0",
        "u7,buy,1709287200,B2",
    ]) + "\n")
    mapping = {
        "user_id": "customer", "event_type": "action", "event_ts": "when",
        "item_id": "sku", "price": "amount", "quantity": "units",
    }

    events, stats = read_all(
        path, "csv", mapping=mapping, type_mapping={"click": "view", "buy": "purchase"}
    )

    assert events == [
        {
            "event_id": "shop_export:2",
            "user_id": "u1",
            "event_type": "view",
            "event_ts": utc_ms(2024, 3, 1, 10),
            "item_id": "A1",
            "price": 9.5,
            "quantity": 2,
        },
        {
            "event_id": "shop_export:3",
            "user_id": "u2",
            "event_type": "purchase",
            "event_ts": 1_709_287_200_000,
            "item_id": "B2",
            "price": 20.0,
            "quantity": 1,
        },
    ]
    assert stats == Counter(
        invalid_timestamp=1,
        unknown_event_type=1,
        missing_user_id=1,
        negative_price=1,
        nonpositive_quantity=1,
        bad_row=1,
    )


def test_csv_without_mapping_reads_contract_column_names(write):
    path = write("events.csv", (
        "event_ts,user_id,event_type,item_id\n1709287200000,u1,cart_add,A1\n"
    ))

    assert detect_format(path) == "csv"
    events, _ = read_all(path)

    assert events == [{
        "event_id": "events:2", "user_id": "u1", "event_type": "cart_add",
        "event_ts": 1_709_287_200_000, "item_id": "A1",
    }]


def test_csv_mapping_naming_a_missing_column_is_rejected_before_sending(write):
    path = write("x.csv", "customer,action,when\nu1,view,1709287200\n")

    with pytest.raises(SourceError, match="lacks the mapped column"):
        read_all(path, "csv", mapping={
            "user_id": "customer", "event_type": "kind", "event_ts": "when",
        })


def test_jsonl_reads_contract_objects_and_counts_broken_lines(write):
    path = write("clicks.jsonl", "\n".join([
        '{"user_id": "u1", "event_type": "view", "event_ts": 1709287200}',
        '{"user_id": 7, "event_type": "purchase", "event_ts": "2024-03-01T10:00:00Z",'
        ' "event_id": "order-7", "price": 12.5, "quantity": 3, "order_id": 99}',
        "{not json",
        "[1, 2]",
        '{"event_type": "view", "event_ts": 1709287200}',
        '{"user_id": "u1", "event_type": "view", "event_ts": "2024-03-01T10:00:00"}',
        '{"user_id": "u1", "event_type": ["view"], "event_ts": 1709287200}',
        "",
    ]))

    events, stats = read_all(path)

    assert events == [
        {
            "event_id": "clicks:1", "user_id": "u1", "event_type": "view",
            "event_ts": 1_709_287_200_000,
        },
        {
            "event_id": "order-7", "user_id": "7", "event_type": "purchase",
            "event_ts": utc_ms(2024, 3, 1, 10), "price": 12.5, "quantity": 3,
            "order_id": "99",
        },
    ]
    assert stats == Counter(
        invalid_json=1,
        not_an_object=1,
        missing_user_id=1,
        invalid_timestamp=1,
        unknown_event_type=1,
    )


def test_jsonl_mapping_and_type_mapping_apply_to_keys_and_values(write):
    path = write("app.ndjson.gz", (
        '{"uid": "a", "ev": 1, "t": 1709287200123}\n'
        '{"uid": "b", "ev": 2, "t": 1709287200456}\n'
    ), compress=True)

    events, stats = read_all(
        path,
        mapping={"user_id": "uid", "event_type": "ev", "event_ts": "t"},
        type_mapping={"1": "view", "2": "checkout"},
    )

    assert [(e["user_id"], e["event_type"], e["event_ts"]) for e in events] == [
        ("a", "view", 1_709_287_200_123),
        ("b", "checkout", 1_709_287_200_456),
    ]
    assert events[0]["event_id"] == "app:1"
    assert stats == Counter()


@pytest.mark.parametrize(
    ("mapping", "type_mapping", "message"),
    [
        ({"user_id": "a", "event_type": "b", "event_ts": "c", "colour": "d"}, None,
         "not contract fields"),
        (None, {"click": "tap"}, "unknown event type"),
    ],
)
def test_invalid_mappings_are_rejected(write, mapping, type_mapping, message):
    path = write("x.jsonl", "{}\n")

    with pytest.raises(SourceError, match=message):
        read_events(path, "jsonl", Counter(), mapping, type_mapping)


def test_mapping_for_a_dataset_format_is_rejected(write):
    path = write("UserBehavior.csv", "1,10,100,pv,1511658000\n")

    with pytest.raises(SourceError, match="csv and jsonl only"):
        read_events(path, "taobao", Counter(), {"user_id": "a"})


# Format detection


@pytest.mark.parametrize(
    ("name", "first_line", "expected"),
    [
        ("UserBehavior.csv", "1,2,3,pv,1511658000", "taobao"),
        ("UserBehavior_head110k.csv.gz", "1,2,3,pv,1511658000", "taobao"),
        ("CDNOW_master.txt", " customer_id  date number_of_cds  dollar_value", "cdnow"),
        ("CDNOW_sample.txt", " 00004 0001 19970101  2   29.33", "cdnow"),
        ("online_retail_II.csv", ONLINE_RETAIL_HEADER, "online-retail"),
        ("events.csv", RETAILROCKET_HEADER, "retailrocket"),
        ("2019-Nov.csv.gz", REES46_HEADER, "rees46"),
        ("stream.jsonl", '{"user_id": "u"}', "jsonl"),
        ("stream.ndjson.gz", '{"user_id": "u"}', "jsonl"),
        ("mine.csv", "user_id,event_type,event_ts", "csv"),
    ],
)
def test_detect_format_from_name_or_header(write, name, first_line, expected):
    path = write(name, first_line + "\n", compress=name.endswith(".gz"))

    assert detect_format(path) == expected


def test_detect_format_names_the_file_when_it_cannot_tell(write):
    path = write("mystery.csv", "a,b,c\n1,2,3\n")

    with pytest.raises(UnknownFormat, match="mystery.csv") as caught:
        detect_format(path)
    assert isinstance(caught.value, LifecycleError)


def test_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        read_events(tmp_path / "absent.csv", "taobao", Counter())


# Contract


def test_every_reader_yields_events_the_contract_accepts_unchanged(write):
    paths = [
        write("UserBehavior.csv", "1,10,100,pv,1511658000\n"),
        write("CDNOW_sample.txt", " 00004 0001 19970101  2   29.33\r\n"),
        online_retail(
            write,
            "C489449,22087,BUNTING,-12,2010-07-01 10:33:00,2.95,16321.0,Australia",
        ),
        write("rr.csv", RETAILROCKET_HEADER + "\n1433221999827,1,transaction,7,40\n"),
        write(
            "ree.csv", REES46_HEADER + "\n2019-10-01 00:00:00 UTC,cart,1,2,,,3.5,4,s\n"
        ),
        write("m.jsonl", '{"user_id":"u","event_type":"refund","event_ts":1709287200,'
              '"price":1.5,"quantity":2,"session_id":"s","category_id":"c"}\n'),
    ]

    for path in paths:
        events, stats = read_all(path)
        assert len(events) == 1 and stats == Counter(), path.name
        event = events[0]
        normalised = normalize_event(event)
        for key, value in event.items():
            assert normalised["event_ts_ms" if key == "event_ts" else key] == value


# The real datasets (skipped when /work/shared/data is absent)


def needs(path: Path):
    return pytest.mark.skipif(not path.is_file(), reason=f"{path} is not present")


@needs(TAOBAO_FILE)
def test_taobao_file_yields_every_documented_event():
    stats: Counter[str] = Counter()
    types: Counter[str] = Counter()
    users = set()

    for event in read_events(TAOBAO_FILE, "auto", stats):
        types[event["event_type"]] += 1
        users.add(event["user_id"])

    assert sum(types.values()) == 110_300
    assert len(users) == 66_454
    assert types == Counter(view=98_361, cart_add=6_063, favorite=3_383, purchase=2_493)
    assert stats == Counter()


@needs(CDNOW_MASTER)
def test_cdnow_master_yields_every_documented_purchase():
    stats: Counter[str] = Counter()

    events = list(read_events(CDNOW_MASTER, "auto", stats))

    assert len(events) == 69_659
    assert len({e["user_id"] for e in events}) == 23_570
    assert {e["event_type"] for e in events} == {"purchase"}
    assert min(e["event_ts"] for e in events) == utc_ms(1997, 1, 1)
    assert max(e["event_ts"] for e in events) == utc_ms(1998, 6, 30)
    total_dollars = sum(e["price"] * e["quantity"] for e in events)
    assert total_dollars == pytest.approx(2_500_315.63, abs=0.01)
    assert stats == Counter()


@needs(CDNOW_SAMPLE)
def test_cdnow_sample_yields_its_documented_purchases():
    stats: Counter[str] = Counter()

    events = list(read_events(CDNOW_SAMPLE, "auto", stats))

    assert len(events) == 6_919
    assert len({e["user_id"] for e in events}) == 2_357
    assert stats == Counter()


@needs(ONLINE_RETAIL_FILE)
def test_online_retail_file_splits_customer_rows_into_purchases_and_refunds():
    stats: Counter[str] = Counter()
    types: Counter[str] = Counter()
    users = set()

    for event in read_events(ONLINE_RETAIL_FILE, "auto", stats):
        types[event["event_type"]] += 1
        users.add(event["user_id"])

    skipped_with_customer = sum(
        n for reason, n in stats.items() if reason != "guest_row"
    )
    assert types["purchase"] + types["refund"] + skipped_with_customer == 809_560
    assert stats["guest_row"] == 1_044_847 - 809_560
    assert types == Counter(purchase=791_114, refund=18_446)
    assert len(users) == 5_942


def test_a_partial_mapping_reads_the_other_fields_by_their_own_names(write):
    path = write("x.csv", "customer,event_type,event_ts\nc1,view,1709287200\n")
    events = list(read_events(path, "csv", Counter(), {"user_id": "customer"}))
    assert [(e["user_id"], e["event_type"]) for e in events] == [("c1", "view")]

    with pytest.raises(SourceError, match="lacks the mapped column.*nosuchcol"):
        list(read_events(path, "csv", Counter(), {"user_id": "nosuchcol"}))
    # Mapped to a column that is there, but a required field has none.
    path = write("y.csv", "customer,kind\nc1,view\n")
    with pytest.raises(SourceError, match="no column for event_type, event_ts"):
        list(read_events(path, "csv", Counter(), {"user_id": "customer"}))
