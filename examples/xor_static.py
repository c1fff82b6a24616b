"""XOR in TensorFlow 1 style: describe the whole graph first, then run it in a Session.

The same model as xor_dynamic.py (2-5-2, sigmoid hidden layer, mean squared error, SGD
with learning rate 0.5, the same starting weights), so both print the same losses.
Run: ``python examples/xor_static.py``; it draws the graph it built.
"""

import tempfile
from pathlib import Path

import numpy as np
import tapeflow.static as tf
from tapeflow.visualize import dot_available, static_graph

rng = np.random.default_rng(0)  # the same starting weights as xor_dynamic.py
x_data = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y_data = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)  # one-hot XOR

x = tf.placeholder(tf.float32, shape=[None, 2], name="x")  # no data yet: a promise of it
y = tf.placeholder(tf.float32, shape=[None, 2], name="y")
w1 = tf.Variable(rng.uniform(-1, 1, (2, 5)).astype(np.float32), name="w1")
b1 = tf.Variable(np.zeros(5, np.float32), name="b1")
w2 = tf.Variable(rng.uniform(-1, 1, (5, 2)).astype(np.float32), name="w2")
b2 = tf.Variable(np.zeros(2, np.float32), name="b2")

output = tf.matmul(tf.sigmoid(tf.matmul(x, w1) + b1), w2) + b2
loss = tf.reduce_mean(tf.square(output - y))
train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)  # adds backward + update

with tf.Session() as sess:  # the graph is complete: compile it once, run it many times
    sess.run(tf.global_variables_initializer())
    for step in range(1001):
        loss_value, _ = sess.run([loss, train], {x: x_data, y: y_data})
        if step % 250 == 0:
            print(f"step {step:4d}  loss {loss_value:.6f}")
    print("predictions:", sess.run(tf.argmax(output, 1), {x: x_data}).tolist())

out = Path(tempfile.gettempdir(), "xor_static." + ("svg" if dot_available() else "dot"))
print("drew the graph:", static_graph(tf.get_default_graph(), [loss, train]).save(out))
