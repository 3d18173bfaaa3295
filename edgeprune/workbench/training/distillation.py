"""Knowledge distillation from the dense parent during fine-tuning.

loss = alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T), where x_T is the softmax of
the log-probabilities divided by T (edgeprune's models end in a softmax, so log p is the logit up to a constant).
The teacher runs on the same augmented batch as the student, inside the training step: caching its outputs once
would teach from un-augmented images, which is a different recipe.

Validation is plain cross-entropy of the student, so early stopping and the plateau compare the same quantity
with and without distillation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import UserError
from ..tf import keras, tf

EPS = 1e-7


@dataclass(frozen=True)
class DistillSettings:
    alpha: float = 0.5  # weight of the label loss; 1 - alpha goes to the teacher
    temperature: float = 4.0

    def check(self) -> None:
        if not (math.isfinite(self.alpha) and 0 <= self.alpha < 1):
            raise UserError(f"--distill-alpha must be in [0, 1) (1 would ignore the teacher), got {self.alpha}")
        if not (math.isfinite(self.temperature) and 0.5 <= self.temperature <= 50):
            raise UserError(f"--temperature must be between 0.5 and 50, got {self.temperature}")


def soften(probs, temperature: float):
    """softmax(log p / T): the distribution at temperature T."""
    return tf.nn.softmax(tf.math.log(tf.clip_by_value(probs, EPS, 1.0)) / temperature, axis=-1)


def distillation_loss(teacher_probs, student_probs, temperature: float):
    """T^2 * KL(teacher_T || student_T), averaged over the batch."""
    t = soften(teacher_probs, temperature)
    s = soften(student_probs, temperature)
    kl = tf.reduce_sum(t * (tf.math.log(tf.clip_by_value(t, EPS, 1.0)) - tf.math.log(tf.clip_by_value(s, EPS, 1.0))), axis=-1)
    return temperature * temperature * tf.reduce_mean(kl)


class Distiller(keras.Model):
    """Trains ``student`` against labels and a frozen ``teacher``; predicts with the student."""

    def __init__(self, student: keras.Model, teacher: keras.Model, settings: DistillSettings):
        super().__init__()
        if tuple(student.output_shape[1:]) != tuple(teacher.output_shape[1:]):
            raise UserError(f"the teacher's outputs {teacher.output_shape[1:]} differ from the pruned model's "
                            f"{student.output_shape[1:]}; distillation needs the same classes")
        self.student, self.teacher, self.settings = student, teacher, settings
        self.teacher.trainable = False

    def call(self, x, training=False):
        return self.student(x, training=training)

    def train_step(self, data):
        x, y = data
        t = self.teacher(x, training=False)
        a, temp = self.settings.alpha, self.settings.temperature
        with tf.GradientTape() as tape:
            s = self.student(x, training=True)
            ce = self.compiled_loss(y, s, regularization_losses=self.student.losses)
            loss = a * ce + (1.0 - a) * distillation_loss(t, s, temp)
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.compiled_metrics.update_state(y, s)
        out = {m.name: m.result() for m in self.metrics}
        out["loss"] = loss
        return out
