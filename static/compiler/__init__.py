"""The static compiler: a pruned, specialised graph in, a runnable Program out.

Nothing here knows TF1's API: it reads ``graphs.ir`` graphs and the runtime's op registry,
runs the graph passes, plans memory into one arena and builds the executor's flat schedule.
"""
