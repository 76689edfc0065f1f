"""Open + save with no edits gives the identical file, whatever odd bytes it holds."""

import pytest

from core.dataset import RawLine, open_dataset

CASES = {
    "lf": b'{"a": 1}\n{"a": 2}\n',
    "crlf": b'{"a": 1}\r\n{"a": 2}\r\n',
    "mixed-endings": b'{"a": 1}\r\n{"a": 2}\n{"a": 3}\r\n',
    "bom": b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n',
    "blank-lines": b'\n\n{"a": 1}\n\n   \n\t\n{"a": 2}\n\n\n',
    "no-final-newline": b'{"a": 1}\n{"a": 2}',
    "invalid-json": b'{"a": 1}\n{"a": \n[1, 2]\n{"a": 2}\n',
    "invalid-utf8": b'{"a": 1}\n{"a": "\xff\xfe"}\n\xc3\x28\n',
    "odd-spacing": b'{ "a" :   1 }\n{"b":2,  "c":[ ]}\n',
    "empty": b"",
    "only-blank": b"\n\r\n\n",
}


@pytest.mark.parametrize("name", CASES)
def test_open_and_save_is_byte_identical(tmp_path, name):
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(CASES[name])
    ds = open_dataset(path)
    assert not ds.dirty
    ds.save()
    assert path.read_bytes() == CASES[name]


def test_records_and_physical_line_numbers(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf\n{"a": 1}\r\n\n  \nnot json\n\xff\n{"a": 2}')
    ds = open_dataset(path)
    assert len(ds) == 4  # blank lines are not records; invalid lines are
    assert [ds.lineno(i) for i in range(4)] == [2, 5, 6, 7]
    assert ds[0] == {"a": 1}
    assert isinstance(ds[1], RawLine) and ds[1] == "not json"
    assert ds[2].raw == b"\xff"
    assert ds[3] == {"a": 2}
    assert ds.bom and ds.newline == b"\r\n"


def test_edits_keep_every_untouched_byte(tmp_path):
    data = b'\xef\xbb\xbf{ "keep" : 1 }\r\n\r\n{"drop": 2}\r\nbroken {\r\n{"last": 3}'
    path = tmp_path / "d.jsonl"
    path.write_bytes(data)
    ds = open_dataset(path)
    ds.delete(1)
    ds.append({"new": 4})
    ds.save()
    # The deleted record's span goes; the CRLF style is used for the new line; the final line
    # that had no newline gets one because a record now follows it.
    assert path.read_bytes() == b'\xef\xbb\xbf{ "keep" : 1 }\r\n\r\nbroken {\r\n{"last": 3}\r\n{"new":4}\r\n'
    reopened = open_dataset(path)
    assert [reopened.lineno(i) for i in range(len(reopened))] == [ds.lineno(i) for i in range(len(ds))] == [1, 3, 4, 5]
