"""Scripts after PyTorch's vision tutorials, with PyTorch and with flambeau from the same weights:
neural style transfer (Gram matrices, content/style losses as modules, LBFGS on the input image with
a closure and clamp_ under no_grad), FGSM adversarial examples, a spatial transformer network
(affine_grid + grid_sample), and Grad-CAM with forward / full backward hooks."""
import numpy as np

from vision_parity import run_both


def style_transfer_body(lib, rec, steps=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class ContentLoss(nn.Module):
        def __init__(self, target):
            super(ContentLoss, self).__init__()
            self.target = target.detach()

        def forward(self, input):
            self.loss = F.mse_loss(input, self.target)
            return input

    def gram_matrix(input):
        a, b, c, d = input.size()
        features = input.view(a * b, c * d)
        G = torch.mm(features, features.t())
        return G.div(a * b * c * d)

    class StyleLoss(nn.Module):
        def __init__(self, target_feature):
            super(StyleLoss, self).__init__()
            self.target = gram_matrix(target_feature).detach()

        def forward(self, input):
            G = gram_matrix(input)
            self.loss = F.mse_loss(G, self.target)
            return input

    class Normalization(nn.Module):
        def __init__(self, mean, std):
            super(Normalization, self).__init__()
            self.mean = torch.tensor(mean).view(-1, 1, 1)
            self.std = torch.tensor(std).view(-1, 1, 1)

        def forward(self, img):
            return (img - self.mean) / self.std

    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()).eval()
    rec.sync("cnn", cnn)
    rs = np.random.RandomState(0)
    style_img = torch.from_numpy(rs.rand(1, 3, 16, 16).astype(np.float32))
    content_img = torch.from_numpy(rs.rand(1, 3, 16, 16).astype(np.float32))
    content_layers, style_layers = ['conv_4'], ['conv_1', 'conv_2', 'conv_3', 'conv_4']
    normalization = Normalization([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = 'conv_{}'.format(i)
        elif isinstance(layer, nn.ReLU):
            name = 'relu_{}'.format(i)
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d):
            name = 'pool_{}'.format(i)
        else:
            raise RuntimeError('Unrecognized layer: {}'.format(layer.__class__.__name__))
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module("content_loss_{}".format(i), content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module("style_loss_{}".format(i), style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], ContentLoss) or isinstance(model[i], StyleLoss):
            break
    model = model[:(i + 1)]
    rec.log("n_layers", len(model))
    input_img = content_img.clone()
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = optim.LBFGS([input_img])
    run = [0]
    style_weight, content_weight = 1e5, 1
    while run[0] <= steps:
        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = 0
            content_score = 0
            for sl in style_losses:
                style_score += sl.loss
            for cl in content_losses:
                content_score += cl.loss
            style_score *= style_weight
            content_score *= content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            rec.log("style_score", style_score)
            rec.log("content_score", content_score)
            return style_score + content_score
        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    rec.log("output", input_img)


def fgsm_body(lib, rec):
    torch, nn, F = lib.torch, lib.nn, lib.F

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.fc1 = nn.Linear(16 * 5 * 5, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            return F.log_softmax(self.fc2(x), dim=1)

    def fgsm_attack(image, epsilon, data_grad):
        sign_data_grad = data_grad.sign()
        perturbed_image = image + epsilon * sign_data_grad
        perturbed_image = torch.clamp(perturbed_image, 0, 1)
        return perturbed_image

    def denorm(batch, mean=[0.1307], std=[0.3081]):
        if isinstance(mean, list):
            mean = torch.tensor(mean)
        if isinstance(std, list):
            std = torch.tensor(std)
        return batch * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)

    model = Net()
    rec.sync("net", model)
    model.eval()
    rs = np.random.RandomState(1)
    for epsilon in [0, .05, .3]:
        correct = 0
        adv_examples = []
        for k in range(4):
            data = torch.from_numpy(rs.randn(1, 1, 14, 14).astype(np.float32))
            target = torch.tensor([int(rs.randint(0, 10))])
            data.requires_grad = True
            output = model(data)
            init_pred = output.max(1, keepdim=True)[1]
            loss = F.nll_loss(output, target)
            model.zero_grad()
            loss.backward()
            data_grad = data.grad.data
            data_denorm = denorm(data)
            perturbed_data = fgsm_attack(data_denorm, epsilon, data_grad)
            perturbed_data_normalized = (perturbed_data - 0.1307) / 0.3081
            output = model(perturbed_data_normalized)
            final_pred = output.max(1, keepdim=True)[1]
            if final_pred.item() == target.item():
                correct += 1
            adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
            adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
            rec.log("data_grad", data_grad)
            rec.log("perturbed", perturbed_data)
            rec.log("preds", [init_pred.item(), final_pred.item()])
        rec.log("acc", correct / 4.0)
        rec.log("adv_ex", adv_examples[-1][2])


def stn_body(lib, rec, steps=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=5)
            self.fc1 = nn.Linear(4 * 6 * 6, 10)
            self.localization = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=5), nn.MaxPool2d(2, stride=2), nn.ReLU(True),
                nn.Conv2d(4, 6, kernel_size=3), nn.MaxPool2d(2, stride=2), nn.ReLU(True))
            self.fc_loc = nn.Sequential(nn.Linear(6 * 2 * 2, 16), nn.ReLU(True), nn.Linear(16, 3 * 2))
            self.fc_loc[2].weight.data.zero_()
            self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

        def stn(self, x):
            xs = self.localization(x)
            xs = xs.view(-1, 6 * 2 * 2)
            theta = self.fc_loc(xs)
            theta = theta.view(-1, 2, 3)
            grid = F.affine_grid(theta, x.size(), align_corners=False)
            x = F.grid_sample(x, grid, align_corners=False)
            return x

        def forward(self, x):
            x = self.stn(x)
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = x.view(-1, 4 * 6 * 6)
            return F.log_softmax(self.fc1(x), dim=1)

    model = Net()
    rec.sync("stn", model)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    rs = np.random.RandomState(2)
    model.train()
    for step in range(steps):
        data = torch.from_numpy(rs.rand(4, 1, 16, 16).astype(np.float32))
        target = torch.from_numpy(rs.randint(0, 10, 4))
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("theta_bias", model.fc_loc[2].bias)
    with torch.no_grad():
        transformed = model.stn(data).cpu()
    rec.log("transformed", transformed)


def gradcam_body(lib, rec):
    torch, nn, F = lib.torch, lib.nn, lib.F
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    rec.sync("model", model)
    model.eval()
    activations, gradients = {}, {}

    def fwd_hook(module, inp, out):
        activations['value'] = out.detach()

    def bwd_hook(module, grad_input, grad_output):
        gradients['value'] = grad_output[0].detach()

    target_layer = model[3]
    h1 = target_layer.register_forward_hook(fwd_hook)
    h2 = target_layer.register_full_backward_hook(bwd_hook)
    x = torch.from_numpy(np.random.RandomState(3).rand(2, 3, 12, 12).astype(np.float32))
    logits = model(x)
    cls = logits.argmax(dim=1)
    model.zero_grad()
    score = logits.gather(1, cls.view(-1, 1)).sum()
    score.backward()
    acts, grads = activations['value'], gradients['value']
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * acts).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=(24, 24), mode='bilinear', align_corners=False)
    b = cam.size(0)
    cam_min = cam.view(b, -1).min(dim=1)[0].view(b, 1, 1, 1)
    cam_max = cam.view(b, -1).max(dim=1)[0].view(b, 1, 1, 1)
    cam = (cam - cam_min) / (cam_max - cam_min + 1e-8)
    h1.remove()
    h2.remove()
    rec.log("cls", cls)
    rec.log("grads", grads)
    rec.log("cam", cam)
    rec.log("hooks_left", [len(target_layer._forward_hooks), len(target_layer._backward_hooks)])


def test_style_transfer_matches_pytorch():
    run_both(style_transfer_body, atol=1e-4, rtol=1e-3)


def test_fgsm_matches_pytorch():
    run_both(fgsm_body)


def test_spatial_transformer_matches_pytorch():
    run_both(stn_body)


def test_gradcam_matches_pytorch():
    run_both(gradcam_body)


if __name__ == "__main__":
    test_style_transfer_matches_pytorch()
    test_fgsm_matches_pytorch()
    test_spatial_transformer_matches_pytorch()
    test_gradcam_matches_pytorch()
    print("ok")
