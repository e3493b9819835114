# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 00: predict throughput with Little's law
#
# This first exercise is mostly about *how exercises work*, so the task is small.
#
# A closed loop of **C** workers shares **P** slots (connections); each request holds a slot for
# **W** seconds. Write `predict(concurrency, slots, service_time)` returning the throughput bound
# in requests per second (see `notebooks/00_start_here.ipynb`). Reject nonsense with a
# `ValueError`: fewer than one worker or slot, or a service time that is not positive.
#
# Edit the function below, run the cell, then run the check cell. The checker prints one line:
# `✓ …` when every check passes, otherwise the first failing check and a hint.

# %%
def predict(concurrency: int, slots: int, service_time: float) -> float:
    """Throughput bound (requests/s) of C workers sharing P slots of W seconds each."""
    ### BEGIN SOLUTION
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1 (got {concurrency})")
    if slots < 1:
        raise ValueError(f"slots must be >= 1 (got {slots})")
    if not service_time > 0:
        raise ValueError(f"service_time must be > 0 (got {service_time})")
    return min(concurrency, slots) / service_time
    ### END SOLUTION


# %% [markdown]
# ## Check
#
# The last check measures real threads (C = 2 and C = 8 workers, 0.3 s each) and compares that with your
# prediction.

# %%
from hcedu.course import check

check.littles_law(predict)

# %% [markdown]
# **Going further.** Change the check's measurement in your head: with P = 4 and W = 20 ms, what
# happens to the mean latency when C goes from 4 to 16? (Little's law again: latency = C / X.)
