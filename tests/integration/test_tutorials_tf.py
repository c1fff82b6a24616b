"""TF1 tutorial programs run with only the import line changed (see test_tutorials.py):
"MNIST For ML Beginners" (two editions), and TensorFlow-Examples' multilayer perceptron and
linear regression. The MNIST "dataset" is a synthetic stand-in with the same interface
(``mnist.train.next_batch``, ``mnist.test.images``): tests download nothing."""

from __future__ import annotations

import numpy as np
import tapeflow.static as tf

# ---- TF1: "MNIST For ML Beginners" (softmax regression) ---------------------------------------


class _DataSet:
    """``mnist.train`` / ``mnist.test``: images (N, 784) in [0, 1] and one-hot labels."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels
        self.num_examples = len(images)
        self._at = 0

    def next_batch(self, batch_size):
        if self._at + batch_size > len(self.images):
            self._at = 0
        batch = slice(self._at, self._at + batch_size)
        self._at += batch_size
        return self.images[batch], self.labels[batch]


class _Mnist:
    """A synthetic stand-in for ``input_data.read_data_sets("MNIST_data/", one_hot=True)``:
    ten noisy class prototypes of 28x28 pixels."""

    def __init__(self, seed=0, n_train=5500):
        rng = np.random.RandomState(seed)
        prototypes = (rng.rand(10, 784) < 0.2).astype(np.float32)

        def draw(n):
            digits = rng.randint(0, 10, n)
            noise = rng.rand(n, 784) < 0.15
            images = np.abs(prototypes[digits] - noise).astype(np.float32)
            return _DataSet(images, np.eye(10, dtype=np.float32)[digits])

        self.train, self.test = draw(n_train), draw(1000)


def tf_mnist_softmax(mnist, steps=1000):
    # Create the model
    x = tf.placeholder(tf.float32, [None, 784])
    W = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.matmul(x, W) + b

    # Define loss and optimizer
    y_ = tf.placeholder(tf.float32, [None, 10])
    cross_entropy = tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)

    sess = tf.InteractiveSession()
    tf.global_variables_initializer().run()
    # Train
    for _ in range(steps):
        batch_xs, batch_ys = mnist.train.next_batch(100)
        sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})

    # Test trained model
    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    result = sess.run(accuracy, feed_dict={x: mnist.test.images, y_: mnist.test.labels})
    print(result)
    sess.close()
    return result


def tf_mnist_softmax_classic(mnist, steps=1000):
    """The first edition: softmax, then -sum(y_ * log(y)), accuracy.eval()."""
    x = tf.placeholder("float", [None, 784])
    W = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    y_ = tf.placeholder("float", [None, 10])
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)

    init = tf.initialize_all_variables()
    sess = tf.Session()
    sess.run(init)
    for i in range(steps):  # noqa: B007 - the tutorial's spelling
        batch_xs, batch_ys = mnist.train.next_batch(100)
        sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})

    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
    with sess.as_default():
        result = accuracy.eval(feed_dict={x: mnist.test.images, y_: mnist.test.labels})
    print(result)
    return result


def tf_multilayer_perceptron(mnist, training_epochs=15):
    """TensorFlow-Examples' multilayer perceptron: dicts of weights, Adam, accuracy.eval."""
    # Parameters
    learning_rate = 0.001
    batch_size = 100
    display_step = 1

    # Network Parameters
    n_hidden_1 = 256  # 1st layer number of neurons
    n_hidden_2 = 256  # 2nd layer number of neurons
    n_input = 784  # MNIST data input (img shape: 28*28)
    n_classes = 10  # MNIST total classes (0-9 digits)

    # tf Graph input
    X = tf.placeholder("float", [None, n_input])
    Y = tf.placeholder("float", [None, n_classes])

    # Store layers weight & bias
    weights = {
        'h1': tf.Variable(tf.random_normal([n_input, n_hidden_1])),
        'h2': tf.Variable(tf.random_normal([n_hidden_1, n_hidden_2])),
        'out': tf.Variable(tf.random_normal([n_hidden_2, n_classes]))
    }
    biases = {
        'b1': tf.Variable(tf.random_normal([n_hidden_1])),
        'b2': tf.Variable(tf.random_normal([n_hidden_2])),
        'out': tf.Variable(tf.random_normal([n_classes]))
    }

    # Create model
    def multilayer_perceptron(x):
        # Hidden fully connected layer with 256 neurons
        layer_1 = tf.add(tf.matmul(x, weights['h1']), biases['b1'])
        # Hidden fully connected layer with 256 neurons
        layer_2 = tf.add(tf.matmul(layer_1, weights['h2']), biases['b2'])
        # Output fully connected layer with a neuron for each class
        out_layer = tf.matmul(layer_2, weights['out']) + biases['out']
        return out_layer

    # Construct model
    logits = multilayer_perceptron(X)

    # Define loss and optimizer
    loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
        logits=logits, labels=Y))
    optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
    train_op = optimizer.minimize(loss_op)
    # Initializing the variables
    init = tf.global_variables_initializer()

    costs = []
    with tf.Session() as sess:
        sess.run(init)

        # Training cycle
        for epoch in range(training_epochs):
            avg_cost = 0.
            total_batch = int(mnist.train.num_examples / batch_size)
            # Loop over all batches
            for i in range(total_batch):  # noqa: B007 - the tutorial's spelling
                batch_x, batch_y = mnist.train.next_batch(batch_size)
                # Run optimization op (backprop) and cost op (to get loss value)
                _, c = sess.run([train_op, loss_op], feed_dict={X: batch_x,
                                                                Y: batch_y})
                # Compute average loss
                avg_cost += c / total_batch
            # Display logs per epoch step
            if epoch % display_step == 0:
                print("Epoch:", '%04d' % (epoch + 1), "cost={:.9f}".format(avg_cost))  # noqa: UP031,UP032
            costs.append(avg_cost)
        print("Optimization Finished!")

        # Test model
        pred = tf.nn.softmax(logits)  # Apply softmax to logits
        correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(Y, 1))
        # Calculate accuracy
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
        result = accuracy.eval({X: mnist.test.images, Y: mnist.test.labels})
        print("Accuracy:", result)
    return costs, result


def test_tf_mnist_softmax_tutorial_learns():
    mnist = _Mnist()
    with tf.Graph().as_default():
        accuracy = tf_mnist_softmax(mnist)
    assert isinstance(accuracy, np.float32)
    assert accuracy > 0.9  # chance is 0.1


def test_tf_mnist_classic_tutorial_learns():
    mnist = _Mnist(seed=1)
    with tf.Graph().as_default():
        accuracy = tf_mnist_softmax_classic(mnist)
    assert accuracy > 0.9


# ---- TF1: linear regression (TensorFlow-Examples style) ---------------------------------------


def tf_linear_regression(training_epochs=1000):
    rng = np.random

    # Parameters
    learning_rate = 0.01
    display_step = 50

    # Training Data
    train_X = np.asarray([3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167,
                          7.042, 10.791, 5.313, 7.997, 5.654, 9.27, 3.1])
    train_Y = np.asarray([1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221,
                          2.827, 3.465, 1.65, 2.904, 2.42, 2.94, 1.3])
    n_samples = train_X.shape[0]

    # tf Graph Input
    X = tf.placeholder("float")
    Y = tf.placeholder("float")

    # Set model weights
    W = tf.Variable(rng.randn(), name="weight")
    b = tf.Variable(rng.randn(), name="bias")

    # Construct a linear model
    pred = tf.add(tf.multiply(X, W), b)

    # Mean squared error
    cost = tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * n_samples)
    # Gradient descent
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)

    # Initialize the variables (i.e. assign their default value)
    init = tf.global_variables_initializer()

    costs = []
    # Start training
    with tf.Session() as sess:
        sess.run(init)
        costs.append(sess.run(cost, feed_dict={X: train_X, Y: train_Y}))

        # Fit all training data
        for epoch in range(training_epochs):
            for (x, y) in zip(train_X, train_Y):  # noqa: B905
                sess.run(optimizer, feed_dict={X: x, Y: y})

            # Display logs per epoch step
            if (epoch + 1) % display_step == 0:
                c = sess.run(cost, feed_dict={X: train_X, Y: train_Y})
                print("Epoch:", '%04d' % (epoch + 1), "cost=", "{:.9f}".format(c),  # noqa: UP031,UP032
                      "W=", sess.run(W), "b=", sess.run(b))

        print("Optimization Finished!")
        training_cost = sess.run(cost, feed_dict={X: train_X, Y: train_Y})
        print("Training cost=", training_cost, "W=", sess.run(W), "b=", sess.run(b), '\n')
        costs.append(training_cost)

        # Testing example, as requested (Issue #2)
        test_X = np.asarray([6.83, 4.668, 8.9, 7.91, 5.7, 8.7, 3.1, 2.1])
        test_Y = np.asarray([1.84, 2.273, 3.2, 2.831, 2.92, 3.24, 1.35, 1.03])

        print("Testing... (Mean square loss Comparison)")
        testing_cost = sess.run(
            tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * test_X.shape[0]),
            feed_dict={X: test_X, Y: test_Y})  # same function as cost above
        print("Testing cost=", testing_cost)
        print("Absolute mean square loss difference:", abs(training_cost - testing_cost))
        return costs, testing_cost, float(sess.run(W)), float(sess.run(b))


def test_tf_multilayer_perceptron_tutorial_learns():
    mnist = _Mnist(seed=2, n_train=2000)  # 20 batches an epoch: the layers keep their size
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        costs, accuracy = tf_multilayer_perceptron(mnist, training_epochs=2)
    assert costs[-1] < costs[0] / 2
    assert accuracy > 0.8


def test_tf_linear_regression_tutorial_learns():
    np.random.seed(0)
    with tf.Graph().as_default():
        (first, last), testing_cost, w, b = tf_linear_regression()
    assert last < first / 2 and last < 0.1  # the tutorial ends near 0.077
    assert testing_cost < 0.2
    assert 0.1 < w < 0.5  # the least-squares slope is about 0.25
