"""Replace, insert, append, delete, duplicate, move; undo/redo; dirty; save as the new baseline."""

import pytest

from core.dataset import open_dataset
from core.dataset.schema import ChatExample

ORIGINAL = b'{"n": 0}\n{ "n" : 1 }\n{"n": 2}\n{"n": 3}\n'


@pytest.fixture
def ds(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(ORIGINAL)
    return open_dataset(path)


def values(ds):
    return [ds[i]["n"] for i in range(len(ds))]


def test_each_operation(ds):
    ds.replace(1, {"n": 10})
    ds.insert(0, {"n": -1})
    ds.append({"n": 99})
    ds.delete(3)  # {"n": 2}
    ds.duplicate(0)
    ds.move(0, 4)
    assert values(ds) == [-1, 0, 10, 3, -1, 99]
    assert ds.dirty


def test_move_both_directions(ds):
    ds.move(3, 0)
    assert values(ds) == [3, 0, 1, 2]
    ds.move(0, 3)
    assert values(ds) == [0, 1, 2, 3]
    assert not ds.dirty  # back to the saved state


def test_undo_restores_original_bytes_not_a_reserialisation(ds):
    ds.replace(1, {"n": 10})
    ds.delete(0)
    assert ds.undo() and ds.undo()
    assert not ds.dirty and not ds.can_undo
    assert ds.raw(1) == b'{ "n" : 1 }'
    assert ds.redo() and ds.redo()
    assert values(ds) == [10, 2, 3]
    assert not ds.redo()


def test_a_new_edit_clears_redo(ds):
    ds.delete(0)
    ds.undo()
    ds.append({"n": 4})
    assert not ds.can_redo


def test_undo_history_survives_save_and_save_is_the_new_baseline(ds, tmp_path):
    ds.replace(1, {"n": 10})
    ds.save()
    assert not ds.dirty
    assert ds.path.read_bytes() == b'{"n": 0}\n{"n":10}\n{"n": 2}\n{"n": 3}\n'
    ds.undo()
    assert ds.dirty and ds.raw(1) == b'{ "n" : 1 }'
    ds.save()
    assert ds.path.read_bytes() == ORIGINAL
    ds.redo()
    ds.save()
    assert values(ds) == [0, 10, 2, 3]


def test_save_as_makes_the_new_file_the_document(ds, tmp_path):
    ds.append({"n": 4})
    other = ds.save(tmp_path / "copy.jsonl")
    assert other.read_bytes() == ORIGINAL + b'{"n":4}\n'
    assert (tmp_path / "d.jsonl").read_bytes() == ORIGINAL
    assert ds.path == other and not ds.dirty


def test_schema_models_and_raw_lines_are_accepted(ds):
    example = ChatExample.model_validate({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    ds.replace(0, example)
    assert ds[0] == {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    ds.replace(1, '{"half": ')
    assert ds.raw(1) == b'{"half": '
    with pytest.raises(ValueError):
        ds.replace(1, "two\nlines")


def test_out_of_range_is_an_index_error(ds):
    with pytest.raises(IndexError):
        ds.delete(4)
    with pytest.raises(IndexError):
        ds.insert(6, {"n": 1})
    with pytest.raises(IndexError):
        ds.move(0, 4)


def test_every_listener_hears_every_change_and_a_reload(ds):
    journal, browser = [], []
    ds.listen(journal.append)
    ds.listen(browser.append)
    ds.listen(browser.append)  # asking twice does not make it hear twice
    ds.delete(0)
    assert journal == browser == [ds]
    ds.unlisten(browser.append)
    ds.undo()
    assert (len(journal), len(browser)) == (2, 1)
    ds.reload()  # a fresh document underneath, the same listeners told
    assert len(journal) == 3 and ds.listening(journal.append) and not ds.listening(browser.append)
