"""One torch thread for the training tests: the tiny models gain nothing from two, and on a
shared 2-core machine a second OpenMP thread that gets descheduled stalls every parallel region
(measured here: 200 tiny steps took 5 s with one thread and 40-200 s with two under load)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
