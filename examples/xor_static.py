"""XOR, the classic TensorFlow 1.x way: placeholders, Variables, Session.run.

Run it with ``python examples/xor_static.py``. Only the import differs from the TF1 program.
"""

import time

import numpy as np
import tapeflow.static as tf

tf.set_random_seed(0)

x_data = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y_data = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)  # one-hot: xor

x = tf.placeholder(tf.float32, shape=[None, 2], name="x-input")
y_ = tf.placeholder(tf.float32, shape=[None, 2], name="y-input")

W1 = tf.Variable(tf.random_uniform([2, 5], -1, 1), name="W1")
b1 = tf.Variable(tf.zeros([5]), name="b1")
W2 = tf.Variable(tf.random_uniform([5, 2], -1, 1), name="W2")
b2 = tf.Variable(tf.zeros([2]), name="b2")

with tf.name_scope("layer1"):
    hidden = tf.sigmoid(tf.matmul(x, W1) + b1)
with tf.name_scope("layer2"):
    output = tf.sigmoid(tf.matmul(hidden, W2) + b2)

loss = tf.reduce_mean(tf.losses.mean_squared_error(y_, output))
train_step = tf.train.GradientDescentOptimizer(learning_rate=5.0).minimize(loss)
prediction = tf.argmax(tf.nn.softmax(output), 1)

init = tf.global_variables_initializer()
with tf.Session() as sess:
    sess.run(init)
    steps = 2001
    start = time.perf_counter()
    for step in range(steps):
        _, loss_value = sess.run([train_step, loss], feed_dict={x: x_data, y_: y_data})
        if step % 500 == 0:
            print(f"step {step:4d}  loss {loss_value:.6f}")
    elapsed = time.perf_counter() - start
    predicted = sess.run(prediction, feed_dict={x: x_data})
    print("predictions:", predicted, " expected:", np.argmax(y_data, 1))
    print(f"{elapsed / steps * 1e6:.0f} us per Session.run train step ({steps} steps, "
          f"{sess.compile_count} programs built)")
