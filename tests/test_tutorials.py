"""Well-known public tutorial programs, run with only their import lines changed.

Each function below is a rendition (from the tutorials' public structure, written here) of
a PyTorch or TF1 tutorial program, keeping its names, calls and hyper-parameters; the only
change is ``import tapeflow.dynamic as torch`` / ``import tapeflow.static as tf``. The
"dataset" of the TF1 MNIST tutorial is a synthetic stand-in with the same interface
(``mnist.train.next_batch``, ``mnist.test.images``), because tests download nothing.
Each test asserts that the program learns.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf

# ---- PyTorch: "Learning PyTorch with Examples" (fitting sin(x) with a cubic) -----------------


def pytorch_tensors():
    """Tensors: the forward and backward passes written by hand."""
    dtype = torch.float
    device = torch.device("cpu")

    # Create random input and output data
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    # Randomly initialize weights
    a = torch.randn((), device=device, dtype=dtype)
    b = torch.randn((), device=device, dtype=dtype)
    c = torch.randn((), device=device, dtype=dtype)
    d = torch.randn((), device=device, dtype=dtype)

    losses = []
    learning_rate = 1e-6
    for t in range(2000):
        # Forward pass: compute predicted y
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        # Compute and print loss
        loss = (y_pred - y).pow(2).sum().item()
        if t % 100 == 99:
            print(t, loss)
        losses.append(loss)

        # Backprop to compute gradients of a, b, c, d with respect to loss
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()

        # Update weights using gradient descent
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    return losses


def pytorch_autograd():
    """Autograd: the same fit, gradients from loss.backward()."""
    dtype = torch.float
    device = torch.device("cpu")

    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    a = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    b = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    c = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    d = torch.randn((), device=device, dtype=dtype, requires_grad=True)

    losses = []
    learning_rate = 1e-6
    for t in range(2000):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
        losses.append(loss.item())

        loss.backward()

        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            # Manually zero the gradients after updating weights
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    return losses


class LegendrePolynomial3(torch.autograd.Function):
    """A custom autograd Function: P3(x) = (5x^3 - 3x) / 2."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def pytorch_custom_function():
    """Defining new autograd functions: y = a + b * P3(c + d * x)."""
    dtype = torch.float
    device = torch.device("cpu")

    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

    losses = []
    learning_rate = 5e-6
    for t in range(2000):
        P3 = LegendrePolynomial3.apply

        y_pred = a + b * P3(c + d * x)

        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
        losses.append(loss.item())

        loss.backward()

        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    print(f'Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)')
    return losses


def pytorch_nn():
    """nn: Sequential(Linear(3, 1), Flatten(0, 1)) on the powers (x, x^2, x^3)."""
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    # For this example, the output y is a linear function of (x, x^2, x^3), so
    # we can consider it as a linear layer neural network. Let's prepare the
    # tensor (x, x^2, x^3).
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )

    loss_fn = torch.nn.MSELoss(reduction='sum')

    losses = []
    learning_rate = 1e-6
    for t in range(2000):
        y_pred = model(xx)

        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            print(t, loss.item())
        losses.append(loss.item())

        model.zero_grad()

        loss.backward()

        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad

    linear_layer = model[0]
    print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
          f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    return losses


def pytorch_optim():
    """optim: the same model trained with RMSprop."""
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )
    loss_fn = torch.nn.MSELoss(reduction='sum')

    losses = []
    learning_rate = 1e-3
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    for t in range(2000):
        y_pred = model(xx)

        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            print(t, loss.item())
        losses.append(loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    linear_layer = model[0]
    print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
          f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    return losses


class Polynomial3(torch.nn.Module):
    def __init__(self):
        """Four parameters, a b c d, as member Parameters."""
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + '
                f'{self.d.item()} x^3')


def pytorch_custom_module():
    """Custom nn Modules: Polynomial3 trained with SGD."""
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    model = Polynomial3()

    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    losses = []
    for t in range(2000):
        y_pred = model(x)

        loss = criterion(y_pred, y)
        if t % 100 == 99:
            print(t, loss.item())
        losses.append(loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    print(f'Result: {model.string()}')
    return losses


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        """A 3rd-, 4th- or 5th-order polynomial, chosen at random, reusing e for the
        higher orders: the graph differs from one iteration to the next."""
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + '
                f'{self.d.item()} x^3 + {self.e.item()} x^4 ? + {self.e.item()} x^5 ?')


def pytorch_dynamic_net(steps: int = 30000):
    """Control flow + weight sharing: SGD with momentum (the tutorial runs 30000 steps)."""
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    model = DynamicNet()

    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    losses = []
    for t in range(steps):
        y_pred = model(x)

        loss = criterion(y_pred, y)
        if t % 2000 == 1999:
            print(t, loss.item())
        losses.append(loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    print(f'Result: {model.string()}')
    return losses


def _learned(losses, factor):
    first, last = losses[0], losses[-1]
    assert all(math.isfinite(v) for v in losses)
    assert last < first / factor, f"loss went from {first} to {last}"


def test_pytorch_tensors_tutorial_fits_sin():
    torch.manual_seed(0)
    losses = pytorch_tensors()
    _learned(losses, 20)
    assert losses[-1] < 20  # the tutorial ends near 8.8 after 2000 steps


def test_pytorch_autograd_tutorial_matches_manual_backprop():
    torch.manual_seed(0)
    manual = pytorch_tensors()
    torch.manual_seed(0)
    auto = pytorch_autograd()
    _learned(auto, 20)
    # the same initial draws, the same gradients: the same trajectory
    assert np.allclose(manual, auto, rtol=1e-3)


def test_pytorch_custom_function_tutorial_learns():
    losses = pytorch_custom_function()
    _learned(losses, 20)


def test_pytorch_nn_tutorial_learns():
    torch.manual_seed(0)
    _learned(pytorch_nn(), 5)


def test_pytorch_optim_tutorial_learns():
    torch.manual_seed(0)
    losses = pytorch_optim()
    _learned(losses, 5)
    assert losses[-1] < 50


def test_pytorch_custom_module_tutorial_learns():
    torch.manual_seed(0)
    _learned(pytorch_custom_module(), 20)


def test_pytorch_dynamic_net_tutorial_learns():
    torch.manual_seed(0)
    random.seed(0)
    _learned(pytorch_dynamic_net(steps=3000), 5)


# ---- PyTorch: "Deep Learning with PyTorch: A 60 Minute Blitz" (tensors and autograd) ---------


def pytorch_blitz_tensors():
    x = torch.empty(5, 3)
    print(x)
    x = torch.rand(5, 3)
    print(x)
    x = torch.zeros(5, 3, dtype=torch.long)
    print(x)
    x = torch.tensor([5.5, 3])
    print(x)
    x = x.new_ones(5, 3, dtype=torch.double)  # new_* methods take in sizes
    print(x)
    x = torch.randn_like(x, dtype=torch.float)  # override dtype!
    print(x)  # result has the same size
    print(x.size())

    y = torch.rand(5, 3)
    print(x + y)
    print(torch.add(x, y))
    result = torch.empty(5, 3)
    torch.add(x, y, out=result)
    print(result)
    # adds x to y
    y.add_(x)
    print(y)
    print(x[:, 1])
    added = y  # (kept for the test)

    x = torch.randn(4, 4)
    y = x.view(16)
    z = x.view(-1, 8)  # the size -1 is inferred from other dimensions
    print(x.size(), y.size(), z.size())

    x = torch.randn(1)
    print(x)
    print(x.item())

    a = torch.ones(5)
    print(a)
    b = a.numpy()
    print(b)
    a.add_(1)
    print(a)
    print(b)

    a = np.ones(5)
    b = torch.from_numpy(a)
    np.add(a, 1, out=a)
    print(a)
    print(b)

    if torch.cuda.is_available():
        device = torch.device("cuda")  # a CUDA device object
        y = torch.ones_like(x, device=device)  # directly create a tensor on GPU
        x = x.to(device)  # or just use strings ``.to("cuda")``
        z = x + y
        print(z)
        print(z.to("cpu", torch.double))  # ``.to`` can also change dtype together!
    return result, added, b


def pytorch_blitz_autograd():
    x = torch.ones(2, 2, requires_grad=True)
    print(x)
    y = x + 2
    print(y)
    print(y.grad_fn)
    z = y * y * 3
    out = z.mean()
    print(z, out)

    a = torch.randn(2, 2)
    a = ((a * 3) / (a - 1))
    print(a.requires_grad)
    a.requires_grad_(True)
    print(a.requires_grad)
    b = (a * a).sum()
    print(b.grad_fn)

    out.backward()
    print(x.grad)
    grad_of_mean = x.grad

    x = torch.randn(3, requires_grad=True)
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    print(y)

    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    print(x.grad)

    print(x.requires_grad)
    print((x ** 2).requires_grad)
    with torch.no_grad():
        print((x ** 2).requires_grad)

    print(x.requires_grad)
    y = x.detach()
    print(y.requires_grad)
    print(x.eq(y).all())
    return grad_of_mean, x, y, v, b


def test_pytorch_blitz_tensors_tutorial_runs():
    torch.manual_seed(0)
    result, y, b = pytorch_blitz_tensors()
    assert result.shape == (5, 3) and torch.allclose(result, y)  # y += x is x + y
    assert b.tolist() == [2.0] * 5  # from_numpy shares memory with the numpy array


def test_pytorch_blitz_autograd_tutorial_gives_its_gradients():
    torch.manual_seed(0)
    grad_of_mean, x, y, v, b = pytorch_blitz_autograd()
    assert grad_of_mean.tolist() == [[4.5, 4.5], [4.5, 4.5]]  # d/dx mean(3 (x+2)^2) at x=1
    # y = x * 2^k: the gradient is v * 2^k, the same factor for every element
    factor = (x.grad / v).tolist()
    assert factor[0] == pytest.approx(factor[1]) == pytest.approx(factor[2])
    assert math.log2(factor[0]) == int(math.log2(factor[0]))
    assert b.grad_fn.name() == "SumBackward0"


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
